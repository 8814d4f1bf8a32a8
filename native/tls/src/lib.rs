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

/// What `receive` found, as bits: one number instead of an object per read, which
/// would cost a property name made per field on the hot path.
#[napi]
pub const PLAIN: u32 = 1;
#[napi]
pub const SEND: u32 = 2;
#[napi]
pub const HANDSHAKE_DONE: u32 = 4;
#[napi]
pub const CLOSED: u32 = 8;
#[napi]
pub const FAILED: u32 = 16;

#[napi]
pub struct TlsServerSession {
    conn: ServerConnection,
    /// Decrypted by the last `receive`, until `take_plain`; empty (no allocation) otherwise.
    plain: Vec<u8>,
    failure: Option<String>,
}

#[napi]
impl TlsServerSession {
    #[napi(constructor)]
    pub fn new(config: External<Arc<ServerConfig>>) -> Result<Self> {
        let mut conn = ServerConnection::new(Arc::clone(&config)).map_err(|e| fail("session", e))?;
        // Output is drained after every call, so no limit is needed; with one, a large write (a MAM page) would be cut short.
        conn.set_buffer_limit(None);
        Ok(TlsServerSession { conn, plain: Vec::new(), failure: None })
    }

    /// Feeds bytes read from the socket. Returns PLAIN (take it with `take_plain`), SEND (TLS bytes for
    /// the peer: handshake messages, tickets, an alert; `take_send`), HANDSHAKE_DONE (during this call),
    /// CLOSED (the peer sent close_notify) and FAILED (a bad record or failed handshake: `failure`).
    #[napi]
    pub fn receive(&mut self, cipher: Buffer) -> u32 {
        let was_handshaking = self.conn.is_handshaking();
        let mut input: &[u8] = &cipher;
        let mut flags = 0;
        while !input.is_empty() && self.failure.is_none() {
            match self.conn.read_tls(&mut input) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.failure = Some(e.to_string());
                    break;
                }
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    let n = state.plaintext_bytes_to_read();
                    if n > 0 {
                        let start = self.plain.len();
                        self.plain.resize(start + n, 0);
                        if let Err(e) = self.conn.reader().read_exact(&mut self.plain[start..]) {
                            self.failure = Some(e.to_string());
                        }
                    }
                    if state.peer_has_closed() {
                        flags |= CLOSED;
                    }
                }
                Err(e) => self.failure = Some(e.to_string()),
            }
        }
        if !self.plain.is_empty() {
            flags |= PLAIN;
        }
        if self.conn.wants_write() {
            flags |= SEND;
        }
        if was_handshaking && !self.conn.is_handshaking() {
            flags |= HANDSHAKE_DONE;
        }
        if self.failure.is_some() {
            flags |= FAILED;
        }
        flags
    }

    /// The application data the last `receive` decrypted.
    #[napi]
    pub fn take_plain(&mut self) -> Option<Buffer> {
        if self.plain.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.plain).into())
    }

    /// TLS bytes waiting to be written to the socket.
    #[napi]
    pub fn take_send(&mut self) -> Option<Buffer> {
        self.take_tls()
    }

    /// Why the connection failed, once `receive` said FAILED.
    #[napi]
    pub fn failure(&self) -> Option<String> {
        self.failure.clone()
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
