package fluvial.flink;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Hands the Java combine path's results to Python in batches: buffers the {@link
 * CombineResult}s and emits them as one byte array right before each watermark it forwards
 * (so every result precedes the watermark that fired it), when {@link #MAX_ROWS} are buffered,
 * when a clock advance passes (so it reaches downstream in order), before a checkpoint barrier
 * (nothing buffered is part of a checkpoint), and when the input ends. A
 * batch (big-endian, read by runners/flink/combine_java.py):
 *
 * <pre>
 *   int32 n, int64 dropped, then n entries:
 *     int8 0 (result): int32 length, pickled key bytes, int64 start, int64 end, int8 tag,
 *                      INT/BOOL: int64 | FLOAT: float64 | BIG: int32 length, decimal digits
 *     int8 1 (clock):  int64 now_ms
 * </pre>
 */
public class ResultBatcher extends AbstractStreamOperator<byte[]>
        implements OneInputStreamOperator<CombineResult, byte[]> {
    private static final long serialVersionUID = 1L;
    static final int MAX_ROWS = 4096;

    private transient ByteArrayOutputStream bytes;
    private transient DataOutputStream data;
    private transient int rows;
    private transient long dropped;

    private void init() {
        if (bytes == null) {
            bytes = new ByteArrayOutputStream();
            data = new DataOutputStream(bytes);
        }
    }

    @Override
    public void processElement(StreamRecord<CombineResult> record) throws Exception {
        init();
        CombineResult r = record.getValue();
        if (r.kind == CombineResult.DROPPED) {
            dropped += 1;
            return;
        }
        if (r.kind == CombineResult.TICK) {
            data.writeByte(1);
            data.writeLong(r.start);
            rows += 1;
            flush();
            return;
        }
        data.writeByte(0);
        byte[] key = r.key.getBytes(StandardCharsets.ISO_8859_1);
        data.writeInt(key.length);
        data.write(key);
        data.writeLong(r.start);
        data.writeLong(r.end);
        data.writeByte(r.tag);
        if (r.tag == PyNumber.FLOAT) {
            data.writeDouble(r.d);
        } else if (r.tag == PyNumber.BIG) {
            byte[] digits = r.big.getBytes(StandardCharsets.US_ASCII);
            data.writeInt(digits.length);
            data.write(digits);
        } else {
            data.writeLong(r.l);
        }
        rows += 1;
        if (rows >= MAX_ROWS) {
            flush();
        }
    }

    private void flush() throws IOException {
        if (bytes == null || (rows == 0 && dropped == 0)) {
            return;
        }
        data.flush();
        byte[] body = bytes.toByteArray();
        byte[] batch = new byte[12 + body.length];
        java.nio.ByteBuffer.wrap(batch).putInt(rows).putLong(dropped).put(body);
        bytes.reset();
        rows = 0;
        dropped = 0;
        output.collect(new StreamRecord<>(batch));
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        flush();
        super.processWatermark(mark);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        // the results buffered here are already gone from WindowCombine's state: they leave
        // before the checkpoint barrier, so a restored job neither loses nor repeats them
        flush();
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }
}
