//! The server side of TLS for sori's client connections, on rustls.
//!
//! Why not Node's own TLS: an idle TLS socket in Node holds ~27 KiB on
//! OpenSSL 3.0 and 15–23 KiB more on Node 22/24's OpenSSL 3.5 (record layers,
//! kept key shares), most of a chat server's memory per connected phone.
//! rustls holds ~7.5 KiB per established connection. The JavaScript side
//! keeps a plain TCP socket and passes bytes through here; nothing runs off
//! the event loop and nothing here keeps a reference to JavaScript values.

use std::io::{Read, Write};
use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, External};
use napi::{Error, Result};
use napi_derive::napi;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

fn fail(what: &str, e: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("{what}: {e}"))
}

/// One configuration shared by every connection: certificate chain, key, ALPN.
/// TLS 1.2 and 1.3 with rustls's default suites (AEAD only, forward secrecy only).
#[napi]
pub fn create_server_config(cert_pem: Buffer, key_pem: Buffer, alpn: Vec<String>) -> Result<External<Arc<ServerConfig>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| fail("certificate", e))?;
    if certs.is_empty() {
        return Err(Error::from_reason("certificate: no certificate in the PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| fail("key", e))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        // Refuses a key that does not match the certificate.
        .with_single_cert(certs, key)
        .map_err(|e| fail("certificate and key", e))?;
    config.alpn_protocols = alpn.into_iter().map(String::into_bytes).collect();
    Ok(External::new(Arc::new(config)))
}

/// What one batch of bytes from the peer produced.
#[napi(object)]
pub struct Received {
    /// Decrypted application data, if any.
    pub plain: Option<Buffer>,
    /// TLS bytes to send to the peer now (handshake messages, alerts, tickets).
    pub send: Option<Buffer>,
    /// The handshake completed during this batch.
    pub handshake_done: bool,
    /// The peer sent close_notify.
    pub closed: bool,
    /// The connection failed (a bad record, a failed handshake); `send` then carries the alert.
    pub error: Option<String>,
}

#[napi]
pub struct TlsServerSession {
    conn: ServerConnection,
}

#[napi]
impl TlsServerSession {
    #[napi(constructor)]
    pub fn new(config: External<Arc<ServerConfig>>) -> Result<Self> {
        let mut conn = ServerConnection::new(Arc::clone(&config)).map_err(|e| fail("session", e))?;
        // Output is drained after every call, so no limit is needed; with one, a large write (a MAM page) would be cut short.
        conn.set_buffer_limit(None);
        Ok(TlsServerSession { conn })
    }

    /// Feeds bytes read from the socket.
    #[napi]
    pub fn receive(&mut self, cipher: Buffer) -> Received {
        let was_handshaking = self.conn.is_handshaking();
        let mut input: &[u8] = &cipher;
        let mut plain: Vec<u8> = Vec::new();
        let mut closed = false;
        let mut error = None;
        while !input.is_empty() && error.is_none() {
            match self.conn.read_tls(&mut input) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    let n = state.plaintext_bytes_to_read();
                    if n > 0 {
                        let start = plain.len();
                        plain.resize(start + n, 0);
                        if let Err(e) = self.conn.reader().read_exact(&mut plain[start..]) {
                            error = Some(e.to_string());
                        }
                    }
                    closed = closed || state.peer_has_closed();
                }
                Err(e) => error = Some(e.to_string()),
            }
        }
        Received {
            plain: if plain.is_empty() { None } else { Some(plain.into()) },
            send: self.take_tls(),
            handshake_done: was_handshaking && !self.conn.is_handshaking(),
            closed,
            error,
        }
    }

    /// Encrypts application data; returns the bytes to write to the socket.
    #[napi]
    pub fn send(&mut self, plain: String) -> Result<Option<Buffer>> {
        self.conn.writer().write_all(plain.as_bytes()).map_err(|e| fail("send", e))?;
        Ok(self.take_tls())
    }

    /// close_notify, to write before ending the socket.
    #[napi]
    pub fn close(&mut self) -> Option<Buffer> {
        self.conn.send_close_notify();
        self.take_tls()
    }

    /// RFC 5705 / RFC 8446 §7.5 exporter, for tls-exporter channel binding (RFC 9266).
    #[napi]
    pub fn export_keying_material(&self, label: String, length: u32, context: Buffer) -> Result<Buffer> {
        let mut out = vec![0u8; length as usize];
        self.conn
            .export_keying_material(&mut out, label.as_bytes(), Some(&context))
            .map_err(|e| fail("exporter", e))?;
        Ok(out.into())
    }

    /// 'TLSv1.3' or 'TLSv1.2' once negotiated, as Node's getProtocol() names them.
    #[napi]
    pub fn protocol(&self) -> Option<String> {
        match self.conn.protocol_version()? {
            ProtocolVersion::TLSv1_3 => Some("TLSv1.3".into()),
            ProtocolVersion::TLSv1_2 => Some("TLSv1.2".into()),
            other => Some(format!("{other:?}")),
        }
    }

    fn take_tls(&mut self) -> Option<Buffer> {
        if !self.conn.wants_write() {
            return None;
        }
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        Some(out.into())
    }
}
