package fluvial.flink.kafka;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import @KAFKA@.clients.consumer.ConsumerRecord;
import @KAFKA@.common.header.Header;

/**
 * Hands a consumed Kafka record to Python as one byte array; fluvial deserializes keys and values
 * in Python (runners/flink/kafka_functions.py reads this layout). Big-endian:
 *
 * <pre>
 *   bytes topic (UTF-8) | int partition | long offset | long timestamp | bytes key | bytes value |
 *   int header count | (bytes name (UTF-8) | bytes value) per header
 * </pre>
 *
 * where {@code bytes} is an int length (-1 for null) followed by that many bytes.
 */
public class KafkaRecordBytes implements KafkaRecordDeserializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> out)
            throws IOException {
        byte[] key = record.key();
        byte[] value = record.value();
        int size = 64 + (key == null ? 0 : key.length) + (value == null ? 0 : value.length);
        ByteArrayOutputStream buffer = new ByteArrayOutputStream(size);
        DataOutputStream data = new DataOutputStream(buffer);
        bytes(data, record.topic().getBytes(StandardCharsets.UTF_8));
        data.writeInt(record.partition());
        data.writeLong(record.offset());
        data.writeLong(record.timestamp());
        bytes(data, key);
        bytes(data, value);
        Header[] headers = record.headers().toArray();
        data.writeInt(headers.length);
        for (Header h : headers) {
            bytes(data, h.key().getBytes(StandardCharsets.UTF_8));
            bytes(data, h.value());
        }
        data.flush();
        out.collect(buffer.toByteArray());
    }

    private static void bytes(DataOutputStream data, byte[] b) throws IOException {
        if (b == null) {
            data.writeInt(-1);
        } else {
            data.writeInt(b.length);
            data.write(b);
        }
    }

    @Override
    public TypeInformation<byte[]> getProducedType() {
        return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
    }
}
