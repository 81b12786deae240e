package fluvial.flink;

import java.util.Arrays;
import java.util.LinkedHashSet;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Carries scripted processing time to every key: runs right before the keyBy of a keyed
 * operator, on the rows {@code Row(byte[] key, byte[] payload)} that feed it (the key and the
 * element, pickled; field 0 is what the keyBy partitions on). A row whose key is {@code null}
 * is a clock record: it is replaced by one copy per key seen so far, carrying that key, in the
 * order the keys were first seen (deterministic), so the keyed function downstream can fire the
 * processing-time timers of every key. Other rows pass and their key is remembered. A keyed
 * function cannot be reached without a key, and PyFlink offers no way to visit all keys' state,
 * hence this operator.
 *
 * <p>Run it with parallelism 1 (it must see every key); it is meant for scripted input
 * (TestStream), whose pipelines run with parallelism 1. The set of keys lives in memory: it is
 * not part of checkpoints.
 */
public class ClockFanOut extends ProcessFunction<Row, Row> {
    private static final long serialVersionUID = 1L;

    private transient LinkedHashSet<Key> keys;

    @Override
    public void processElement(Row row, Context ctx, Collector<Row> out) {
        if (keys == null) {
            keys = new LinkedHashSet<>();
        }
        Object key = row.getField(0);
        if (key == null) {
            Object payload = row.getField(1);
            for (Key k : keys) {
                out.collect(Row.of(k.bytes, payload));
            }
            return;
        }
        keys.add(new Key((byte[]) key));
        out.collect(row);
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
