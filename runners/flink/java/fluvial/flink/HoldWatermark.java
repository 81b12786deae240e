package fluvial.flink;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Holds back the watermark after a Python operator that must hold it (a ParDo whose main
 * elements wait for their side inputs): the operator emits {@code Row(null, element)} for its
 * outputs and {@code Row(hold, null)} whenever the earliest timestamp it still holds changes
 * ({@code Long.MAX_VALUE}: nothing held). This operator passes the elements on and forwards the
 * minimum of its input watermark and the latest hold, never moving backwards. The hold lives in
 * memory: it is not part of checkpoints (nor are the waiting elements upstream).
 */
public class HoldWatermark extends AbstractStreamOperator<byte[]> implements OneInputStreamOperator<Row, byte[]> {
    private static final long serialVersionUID = 1L;

    private transient long input = Long.MIN_VALUE;
    private transient long hold = Long.MAX_VALUE;
    private transient long emitted = Long.MIN_VALUE;
    private transient boolean started;

    private void start() {
        if (!started) {
            started = true;
            input = Long.MIN_VALUE;
            hold = Long.MAX_VALUE;
            emitted = Long.MIN_VALUE;
        }
    }

    @Override
    public void processElement(StreamRecord<Row> record) {
        start();
        Row r = record.getValue();
        Object h = r.getField(0);
        if (h != null) {
            hold = (Long) h;
            advance();
            return;
        }
        output.collect(record.replace((byte[]) r.getField(1)));
    }

    @Override
    public void processWatermark(Watermark mark) {
        start();
        input = mark.getTimestamp();
        advance();
    }

    private void advance() {
        long wm = Math.min(input, hold);
        if (wm > emitted) {
            emitted = wm;
            output.emitWatermark(new Watermark(wm));
        }
    }
}
