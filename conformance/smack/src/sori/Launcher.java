package sori;

import java.security.Security;

import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.igniterealtime.smack.inttest.SmackIntegrationTestFramework;
import org.jivesoftware.smackx.omemo.signal.SignalOmemoService;

/**
 * Starts sinttest with Smack's libsignal OMEMO service registered. Without one,
 * sinttest reports every XEP-0384 test as impossible ("No OmemoService
 * registered"), and OMEMO is the end-to-end encryption Conversations, Dino,
 * Monal and Gajim use: its device lists and key bundles are PEP nodes the
 * server must store, notify and serve with the right access model.
 */
public final class Launcher {
    private Launcher() {
    }

    public static void main(String[] args) throws Exception {
        // Smack's OmemoAesCipher gives AES/GCM an IvParameterSpec: Java's provider
        // refuses it, and Cipher then falls through to Bouncy Castle (already on
        // the classpath for smack-openpgp). Last, so TLS keeps Java's own keys.
        Security.addProvider(new BouncyCastleProvider());
        // smack-omemo-signal is GPLv3; acknowledging it is Smack's way of asking.
        SignalOmemoService.acknowledgeLicense();
        SignalOmemoService.setup();
        SmackIntegrationTestFramework.main(args);
    }
}
