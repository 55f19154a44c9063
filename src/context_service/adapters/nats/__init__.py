"""NATS JetStream edge: streams, durable pull consumers (decode → use case → ack policy), outbox publisher."""
