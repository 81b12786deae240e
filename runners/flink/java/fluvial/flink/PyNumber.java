package fluvial.flink;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * Python's arithmetic on the numbers fluvial's built-in combiners accept in Java: {@code int}
 * (exact: a {@code long}, or a {@link BigInteger} once a sum leaves the long range), {@code
 * float} (IEEE double) and {@code bool}. Each method does what the Python expression in
 * fluvial's CombineFn does ({@code acc + x}, {@code min(acc, x)}, {@code s / n}), so results
 * equal the Python path's bit for bit:
 *
 * <ul>
 *   <li>int + int is exact; int + float and float + int convert the int to the nearest double
 *       (round half to even, as Python's {@code float(int)}) and add;
 *   <li>comparisons between an int and a float are exact (no conversion), NaN compares false;
 *   <li>int / int is the correctly rounded quotient (Python's true division).
 * </ul>
 *
 * <p>A number is a tag ({@link #INT}, {@link #BIG}, {@link #FLOAT}, {@link #BOOL}, or {@link
 * #NONE} for "no value yet") with its payload in {@link CombineAcc}'s fields.
 */
public final class PyNumber {
    public static final byte NONE = 0;
    public static final byte INT = 1;
    public static final byte BIG = 2;
    public static final byte FLOAT = 3;
    public static final byte BOOL = 4;

    private static final long EXACT_DOUBLE = 1L << 53;
    private static final MathContext QUOTIENT = new MathContext(1100, RoundingMode.HALF_EVEN);

    private PyNumber() {}

    static boolean integral(byte tag) {
        return tag == INT || tag == BOOL || tag == BIG;
    }

    static BigInteger big(byte tag, long l, String big) {
        return tag == BIG ? new BigInteger(big) : BigInteger.valueOf(l);
    }

    static double toDouble(byte tag, long l, String big) {
        return tag == BIG ? new BigInteger(big).doubleValue() : (double) l;
    }

    /** {@code acc + x} into {@code acc} (acc holds an int or a float). */
    static void add(CombineAcc acc, byte tag, long l, double d) {
        if (tag == FLOAT) {
            if (acc.tag == FLOAT) {
                acc.d = acc.d + d;
            } else {
                acc.d = toDouble(acc.tag, acc.l, acc.big) + d;
                acc.tag = FLOAT;
                acc.big = null;
            }
            return;
        }
        // an int (or a bool, which adds as an int)
        if (acc.tag == FLOAT) {
            acc.d = acc.d + (double) l;
        } else if (acc.tag == BIG) {
            setInt(acc, new BigInteger(acc.big).add(BigInteger.valueOf(l)));
        } else {
            long sum = acc.l + l;
            if (((acc.l ^ sum) & (l ^ sum)) < 0) { // overflow
                setInt(acc, BigInteger.valueOf(acc.l).add(BigInteger.valueOf(l)));
            } else {
                acc.l = sum;
                acc.tag = INT;
            }
        }
    }

    private static void setInt(CombineAcc acc, BigInteger v) {
        if (v.bitLength() < 64) {
            acc.tag = INT;
            acc.l = v.longValue();
            acc.big = null;
        } else {
            acc.tag = BIG;
            acc.big = v.toString();
        }
    }

    /** Python's {@code a < b} for two numbers (NaN: false). */
    static boolean less(byte ta, long la, double da, String ba, byte tb, long lb, double db, String bb) {
        boolean ia = integral(ta);
        boolean ib = integral(tb);
        if (ia && ib) {
            if (ta != BIG && tb != BIG) {
                return la < lb;
            }
            return big(ta, la, ba).compareTo(big(tb, lb, bb)) < 0;
        }
        if (!ia && !ib) {
            return da < db;
        }
        if (ia) { // int < float
            if (Double.isNaN(db)) {
                return false;
            }
            if (Double.isInfinite(db)) {
                return db > 0;
            }
            return new BigDecimal(big(ta, la, ba)).compareTo(new BigDecimal(db)) < 0;
        }
        // float < int
        if (Double.isNaN(da)) {
            return false;
        }
        if (Double.isInfinite(da)) {
            return da < 0;
        }
        return new BigDecimal(da).compareTo(new BigDecimal(big(tb, lb, bb))) < 0;
    }

    /** Python's {@code s / n} for a sum {@code s} (int or float) and a count {@code n > 0}. */
    static double divide(byte tag, long l, double d, String big, long n) {
        if (tag == FLOAT) {
            return d / (double) n;
        }
        if (tag != BIG && Math.abs(l) <= EXACT_DOUBLE && n <= EXACT_DOUBLE) {
            return (double) l / (double) n; // both exact: IEEE division rounds correctly
        }
        return new BigDecimal(big(tag, l, big)).divide(new BigDecimal(n), QUOTIENT).doubleValue();
    }
}
