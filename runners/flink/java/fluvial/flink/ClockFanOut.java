package fluvial.flink;

import java.util.Arrays;
import java.util.LinkedHashSet;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Carries scripted processing time to every key: runs right before a keyBy on the key field,
 * on records {@code Tuple4<Integer kind, Long time, byte[] key, byte[] payload>} (kinds of
 * {@link ScriptRecords}). Elements pass and their key is remembered; a
 * {@link ScriptRecords#CLOCK} record is replaced by one copy per key seen so far, carrying that
 * key, in the order the keys were first seen (deterministic), so the keyed function downstream
 * can fire the processing-time timers of every key. A keyed function cannot be reached without
 * a key, and PyFlink offers no way to visit all keys' state, hence this operator.
 *
 * <p>Run it with parallelism 1 (it must see every key); it is meant for scripted input
 * (TestStream), whose pipelines run with parallelism 1 up to the keyed function. The set of
 * keys lives in memory: it is not part of checkpoints.
 */
public class ClockFanOut
        extends ProcessFunction<Tuple4<Integer, Long, byte[], byte[]>, Tuple4<Integer, Long, byte[], byte[]>> {
    private static final long serialVersionUID = 1L;

    private transient LinkedHashSet<Key> keys;

    @Override
    public void processElement(
            Tuple4<Integer, Long, byte[], byte[]> record,
            Context ctx,
            Collector<Tuple4<Integer, Long, byte[], byte[]>> out) {
        if (keys == null) {
            keys = new LinkedHashSet<>();
        }
        if (record.f0 == ScriptRecords.CLOCK) {
            for (Key k : keys) {
                out.collect(Tuple4.of(ScriptRecords.CLOCK, record.f1, k.bytes, record.f3));
            }
            return;
        }
        if (record.f0 == ScriptRecords.ELEMENT && record.f2 != null) {
            keys.add(new Key(record.f2));
        }
        out.collect(record);
    }

    /** A key's bytes compared by content (a Java byte[] compares by identity). */
    static final class Key {
        final byte[] bytes;
        private final int hash;

        Key(byte[] bytes) {
            this.bytes = bytes;
            this.hash = Arrays.hashCode(bytes);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key && Arrays.equals(bytes, ((Key) o).bytes);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
