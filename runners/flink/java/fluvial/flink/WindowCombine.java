package fluvial.flink;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * A built-in combiner (sum, count, min, max, mean) over fixed or sliding event-time windows
 * with the default trigger, no allowed lateness and end-of-window timestamps, per key: what
 * fluvial's window driver does for such a grouping, in Java.
 *
 * <ul>
 *   <li>Windows of an element at {@code ts}: starts {@code s} with {@code s = ts - floorMod(ts -
 *       offset, period)} and then every {@code period} back while {@code s > ts - size} (the
 *       WindowFn's assign; fixed windows have {@code period == size}).
 *   <li>A window {@code [s, s + size)} has expired once the watermark is past its max timestamp
 *       {@code s + size - 1} (no lateness): its elements are dropped and counted, one per
 *       window, as fluvial's {@code dropped_due_to_lateness}.
 *   <li>Otherwise the element is folded into the window's accumulator (Python's arithmetic,
 *       {@link PyNumber}), and a timer at {@code s + size} (Flink fires at watermark {@code >=}
 *       it, i.e. once the watermark passes the max timestamp) emits the window's result once
 *       and forgets the window.
 * </ul>
 *
 * <p>State: one {@code MapState<Long window start, CombineAcc>} per key.
 */
public class WindowCombine extends KeyedProcessFunction<String, CombineElement, CombineResult>
        implements ResultTypeQueryable<CombineResult> {
    private static final long serialVersionUID = 1L;

    public static final int SUM = 0;
    public static final int COUNT = 1;
    public static final int MIN = 2;
    public static final int MAX = 3;
    public static final int MEAN = 4;

    private final int kind;
    private final long size;
    private final long period;
    private final long offset;
    private transient MapState<Long, CombineAcc> accs;

    public WindowCombine(int kind, long size, long period, long offset) {
        this.kind = kind;
        this.size = size;
        this.period = period;
        this.offset = offset;
    }

    public static int kindOf(String name) {
        switch (name) {
            case "sum":
                return SUM;
            case "count":
                return COUNT;
            case "min":
                return MIN;
            case "max":
                return MAX;
            case "mean":
                return MEAN;
            default:
                throw new IllegalArgumentException("unknown combiner kind " + name);
        }
    }

    @Override
    public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
        accs = getRuntimeContext().getMapState(
                new MapStateDescriptor<>("fluvial-accs", Types.LONG, TypeInformation.of(CombineAcc.class)));
    }

    @Override
    public void processElement(CombineElement e, Context ctx, Collector<CombineResult> out) throws Exception {
        if (e.tick) {
            CombineResult r = new CombineResult();
            r.kind = CombineResult.TICK;
            r.start = e.timestamp;
            out.collect(r);
            return;
        }
        long ts = e.timestamp;
        long wm = ctx.timerService().currentWatermark();
        long start = ts - Math.floorMod(ts - offset, period);
        for (long s = start; s > ts - size; s -= period) {
            long end = s + size;
            if (wm > end - 1) { // expired: watermark past the max timestamp, no lateness
                CombineResult r = new CombineResult();
                r.kind = CombineResult.DROPPED;
                out.collect(r);
                continue;
            }
            CombineAcc acc = accs.get(s);
            if (acc == null) {
                acc = new CombineAcc();
                acc.tag = (kind == MIN || kind == MAX) ? PyNumber.NONE : PyNumber.INT;
                ctx.timerService().registerEventTimeTimer(end);
            }
            fold(acc, e);
            accs.put(s, acc);
        }
    }

    private void fold(CombineAcc acc, CombineElement e) {
        long l = e.bits;
        double d = e.tag == PyNumber.FLOAT ? Double.longBitsToDouble(e.bits) : 0.0;
        switch (kind) {
            case COUNT:
                acc.count += 1;
                break;
            case SUM:
                PyNumber.add(acc, e.tag, l, d);
                break;
            case MEAN:
                PyNumber.add(acc, e.tag, l, d);
                acc.count += 1;
                break;
            default: // MIN, MAX: Python's min(acc, x) / max(acc, x) keep acc unless x < / > acc
                boolean take;
                if (acc.tag == PyNumber.NONE) {
                    take = true;
                } else if (kind == MIN) {
                    take = PyNumber.less(e.tag, l, d, null, acc.tag, acc.l, acc.d, acc.big);
                } else {
                    take = PyNumber.less(acc.tag, acc.l, acc.d, acc.big, e.tag, l, d, null);
                }
                if (take) {
                    acc.tag = e.tag;
                    acc.l = l;
                    acc.d = d;
                    acc.big = null;
                }
        }
    }

    @Override
    public void onTimer(long end, OnTimerContext ctx, Collector<CombineResult> out) throws Exception {
        long s = end - size;
        CombineAcc acc = accs.get(s);
        if (acc == null) {
            return;
        }
        accs.remove(s);
        CombineResult r = new CombineResult();
        r.kind = CombineResult.RESULT;
        r.key = ctx.getCurrentKey();
        r.start = s;
        r.end = end;
        switch (kind) {
            case COUNT:
                r.tag = PyNumber.INT;
                r.l = acc.count;
                break;
            case MEAN:
                r.tag = PyNumber.FLOAT;
                r.d = PyNumber.divide(acc.tag, acc.l, acc.d, acc.big, acc.count);
                break;
            default:
                r.tag = acc.tag;
                r.l = acc.l;
                r.d = acc.d;
                r.big = acc.big;
        }
        out.collect(r);
    }

    @Override
    public TypeInformation<CombineResult> getProducedType() {
        return TypeInformation.of(CombineResult.class);
    }
}
