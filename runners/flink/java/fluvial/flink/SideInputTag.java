package fluvial.flink;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Tags one input of a ParDo with side inputs, so the Python operator reading the union of its
 * inputs can tell them apart and see each input's own watermark (a Python function sees only
 * the minimum over its inputs). Elements (pickled wire records) become {@code Row(input,
 * subtask, subtasks, null, element)}; each watermark becomes the record {@code Row(input,
 * subtask, subtasks, watermark, null)}, emitted before the watermark itself is forwarded.
 * {@code subtask} and {@code subtasks} identify this operator instance, so the reader can take
 * the minimum over the instances of one input (a broadcast side input reaches every reader
 * from every instance).
 */
public class SideInputTag extends AbstractStreamOperator<Row> implements OneInputStreamOperator<byte[], Row> {
    private static final long serialVersionUID = 1L;

    private final int input;

    public SideInputTag(int input) {
        this.input = input;
    }

    private TaskInfo task() {
        return getRuntimeContext().getTaskInfo();
    }

    @Override
    public void processElement(StreamRecord<byte[]> record) {
        TaskInfo t = task();
        output.collect(record.replace(Row.of(input, t.getIndexOfThisSubtask(),
                t.getNumberOfParallelSubtasks(), null, record.getValue())));
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        TaskInfo t = task();
        output.collect(new StreamRecord<>(Row.of(input, t.getIndexOfThisSubtask(),
                t.getNumberOfParallelSubtasks(), mark.getTimestamp(), null)));
        super.processWatermark(mark);
    }
}
