package fluvial.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.util.Collector;

/**
 * Explodes the batches Python hands to the Java combine path into {@link CombineElement}s.
 * A batch (big-endian, written by runners/flink/combine_java.py) is either
 *
 * <pre>
 *   int32 nkeys (>= 0), nkeys x (int32 length, pickled key bytes),
 *   int32 n, n x (int32 key index, int64 timestamp_ms, int8 tag, int64 bits)
 * </pre>
 *
 * <p>or a clock advance: {@code int32 -1, int64 now_ms}.
 */
public class CombineInput implements FlatMapFunction<byte[], CombineElement>,
        ResultTypeQueryable<CombineElement> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(byte[] batch, Collector<CombineElement> out) {
        ByteBuffer buf = ByteBuffer.wrap(batch);
        int nkeys = buf.getInt();
        if (nkeys < 0) {
            CombineElement e = new CombineElement();
            e.key = "";
            e.timestamp = buf.getLong();
            e.tick = true;
            out.collect(e);
            return;
        }
        String[] keys = new String[nkeys];
        for (int i = 0; i < nkeys; i++) {
            byte[] k = new byte[buf.getInt()];
            buf.get(k);
            keys[i] = new String(k, StandardCharsets.ISO_8859_1);
        }
        int n = buf.getInt();
        for (int i = 0; i < n; i++) {
            CombineElement e = new CombineElement();
            e.key = keys[buf.getInt()];
            e.timestamp = buf.getLong();
            e.tag = buf.get();
            e.bits = buf.getLong();
            out.collect(e);
        }
    }

    @Override
    public TypeInformation<CombineElement> getProducedType() {
        return TypeInformation.of(CombineElement.class);
    }
}
