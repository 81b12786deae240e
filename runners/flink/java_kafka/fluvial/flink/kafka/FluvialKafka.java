package fluvial.flink.kafka;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaSinkBuilder;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import @KAFKA@.common.TopicPartition;

/**
 * Builds Flink's KafkaSource and KafkaSink for fluvial's ReadFromKafka and WriteToKafka, so the
 * Python side never names a Kafka class (whose package differs between the plain
 * kafka-clients jar and the shaded flink-sql-connector-kafka jar).
 */
public final class FluvialKafka {
    private FluvialKafka() {}

    private static Map<TopicPartition, Long> offsets(String[] topics, int[] partitions, long[] at) {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (int i = 0; i < topics.length; i++) {
            out.put(new TopicPartition(topics[i], partitions[i]), at[i]);
        }
        return out;
    }

    /**
     * A source of the given partitions starting at {@code starts}; bounded by {@code stops}
     * (exclusive) unless it is null. Records are {@link KafkaRecordBytes} byte arrays. Wrapped
     * in {@link ResumableBoundedSource}, so a bounded read also ends after a restore.
     */
    public static ResumableBoundedSource<byte[]> source(
            String servers,
            String[] topics,
            int[] partitions,
            long[] starts,
            long[] stops,
            Properties properties) {
        Set<TopicPartition> assigned = new HashSet<>();
        for (int i = 0; i < topics.length; i++) {
            assigned.add(new TopicPartition(topics[i], partitions[i]));
        }
        KafkaSourceBuilder<byte[]> builder =
                KafkaSource.<byte[]>builder()
                        .setBootstrapServers(servers)
                        .setPartitions(assigned)
                        .setStartingOffsets(
                                OffsetsInitializer.offsets(offsets(topics, partitions, starts)))
                        .setDeserializer(new KafkaRecordBytes())
                        .setProperties(properties);
        if (stops != null) {
            builder.setBounded(OffsetsInitializer.offsets(offsets(topics, partitions, stops)));
        }
        return new ResumableBoundedSource<>(builder.build());
    }

    /**
     * A sink of {@link KafkaBytesSerializer} byte arrays; exactly-once (transactions committed
     * when a checkpoint completes) with the transactional id prefix, else at-least-once.
     */
    public static KafkaSink<byte[]> sink(
            String servers, boolean exactlyOnce, String transactionalIdPrefix, Properties properties) {
        KafkaSinkBuilder<byte[]> builder =
                KafkaSink.<byte[]>builder()
                        .setKafkaProducerConfig(properties)
                        .setBootstrapServers(servers)
                        .setRecordSerializer(new KafkaBytesSerializer())
                        .setDeliveryGuarantee(
                                exactlyOnce
                                        ? DeliveryGuarantee.EXACTLY_ONCE
                                        : DeliveryGuarantee.AT_LEAST_ONCE);
        if (exactlyOnce) {
            builder.setTransactionalIdPrefix(transactionalIdPrefix);
        }
        return builder.build();
    }
}
