package sori;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.igniterealtime.smack.inttest.AbstractSmackIntTest;
import org.igniterealtime.smack.inttest.FailedTest;
import org.igniterealtime.smack.inttest.SmackIntegrationTestFramework;
import org.igniterealtime.smack.inttest.SuccessfulTest;
import org.igniterealtime.smack.inttest.TestNotPossible;
import org.igniterealtime.smack.inttest.annotations.SpecificationReference;

/**
 * Writes one line per test, tab-separated: {@code status spec test reason}, where
 * status is passed, failed or impossible; spec is the class's SpecificationReference
 * document (or "-"); test is Smack's own name for the concrete test
 * ("Class.method (Type, subdescription)", or just the class name when the whole class
 * was impossible). The file comes from -Dsori.report=FILE. conformance/smack/report.mjs
 * reads it, so the harness never parses Smack's log wording.
 */
public final class TsvReport implements SmackIntegrationTestFramework.TestRunResultProcessor {

    @Override
    public void process(SmackIntegrationTestFramework.TestRunResult result) {
        String file = System.getProperty("sori.report");
        if (file == null) {
            throw new IllegalStateException("set -Dsori.report=FILE");
        }
        try (PrintStream out = new PrintStream(new FileOutputStream(file), true, StandardCharsets.UTF_8)) {
            for (Map.Entry<Class<? extends AbstractSmackIntTest>, Throwable> e : result.getImpossibleTestClasses().entrySet()) {
                line(out, "impossible", spec(e.getKey()), e.getKey().getSimpleName(), e.getValue());
            }
            for (TestNotPossible t : result.getNotPossibleTests()) {
                line(out, "impossible", spec(t.concreteTest.getMethod().getDeclaringClass()), t.concreteTest.toString(), t.testNotPossibleException);
            }
            for (FailedTest t : result.getFailedTests()) {
                line(out, "failed", spec(t.concreteTest.getMethod().getDeclaringClass()), t.concreteTest.toString(), t.failureReason);
            }
            for (SuccessfulTest t : result.getSuccessfulTests()) {
                line(out, "passed", spec(t.concreteTest.getMethod().getDeclaringClass()), t.concreteTest.toString(), null);
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String spec(Class<?> c) {
        SpecificationReference ref = c.getAnnotation(SpecificationReference.class);
        return ref == null || ref.document().isBlank() ? "-" : ref.document().trim();
    }

    private static void line(PrintStream out, String status, String spec, String test, Throwable why) {
        String reason = why == null ? "" : String.valueOf(why);
        out.println(status + '\t' + spec + '\t' + test + '\t' + reason.replaceAll("\\s+", " "));
    }
}
