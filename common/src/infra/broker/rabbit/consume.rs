//! Consuming: commands and tasks as deliveries, dead letters for the keeper, and the
//! temporary queues (the reply queue, event subscriptions).

use super::*;

impl Rabbit {
    pub async fn consume(self: &Arc<Self>) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        self.consume_from(self.commands_queue(), self.prefetch, None).await
    }

    pub(super) async fn consume_from(
        self: &Arc<Self>,
        queue: String,
        prefetch: u16,
        task: Option<Arc<TaskQueue>>,
    ) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        bounded(self.timeout, "qos", ch.basic_qos(prefetch, BasicQosOptions::default())).await?;
        let tag: ShortString = format!("kefu-worker-{}", uuid::Uuid::new_v4()).into();
        let consumer = bounded(
            self.timeout,
            "consume",
            ch.basic_consume(
                queue.clone().into(),
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        tracing::info!(queue = %queue, prefetch, "consuming");
        let rabbit = Arc::clone(self);
        // Keep the channel alive as long as the stream.
        let stream = consumer
            .take_while(|item| {
                if let Err(err) = item {
                    tracing::warn!(error = %err, "consumer stream failed; will reconnect");
                }
                std::future::ready(item.is_ok())
            })
            .filter_map(move |item| {
                let _keep = &ch;
                let rabbit = Arc::clone(&rabbit);
                let task = task.clone();
                std::future::ready(item.ok().map(|d| {
                    let headers = d.properties.headers().clone();
                    let retries = headers
                        .as_ref()
                        .and_then(|h| h.inner().get(RETRIES_HEADER).cloned())
                        .and_then(|v| match v {
                            AMQPValue::LongLongInt(n) => Some(n as u32),
                            AMQPValue::LongInt(n) => Some(n as u32),
                            _ => None,
                        })
                        .unwrap_or(0);
                    Delivery {
                        queue: task,
                        reply_to: d.properties.reply_to().as_ref().map(|s| s.to_string()),
                        retries,
                        redelivered: d.redelivered,
                        payload: d.data,
                        acker: Acker::Rabbit {
                            acker: d.acker,
                            rabbit,
                            headers,
                        },
                    }
                }))
            });
        Ok(stream.boxed())
    }

    pub async fn consume_tasks(
        self: &Arc<Self>,
        task: &Arc<TaskQueue>,
    ) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        self.consume_from(self.task_queue(&task.name), task.prefetch, Some(Arc::clone(task)))
            .await
    }

    /// The messages of one dead-letter queue (the commands' or a task queue's), for the
    /// keeper that moves them into the database (`dead_letters`).
    pub async fn consume_dead_of(
        self: &Arc<Self>,
        dead_queue: String,
    ) -> Result<BoxStream<'static, DeadMessage>, BrokerError> {
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        bounded(self.timeout, "qos", ch.basic_qos(32, BasicQosOptions::default())).await?;
        let consumer = bounded(
            self.timeout,
            "consume",
            ch.basic_consume(
                dead_queue.into(),
                format!("kefu-dead-keeper-{}", uuid::Uuid::new_v4()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        let rabbit = Arc::clone(self);
        let stream = consumer
            .take_while(|item| std::future::ready(item.is_ok()))
            .filter_map(move |item| {
                let _keep = &ch;
                let rabbit = Arc::clone(&rabbit);
                std::future::ready(item.ok().map(|d| {
                    let headers = d.properties.headers().clone().unwrap_or_default();
                    let header = |name: &str| headers.inner().get(name).cloned();
                    let retries = match header(RETRIES_HEADER) {
                        Some(AMQPValue::LongLongInt(n)) => n as i32,
                        Some(AMQPValue::LongInt(n)) => n,
                        _ => 0,
                    };
                    let text = |v: Option<AMQPValue>| match v {
                        Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                        Some(AMQPValue::ShortString(s)) => Some(s.to_string()),
                        _ => None,
                    };
                    // The last death says why it ended here (earlier ones are the delay
                    // queues' expiries).
                    let latest_death = match header("x-death") {
                        Some(AMQPValue::FieldArray(deaths)) => deaths.as_slice().first().and_then(|d| match d {
                            AMQPValue::FieldTable(t) => text(t.inner().get("reason").cloned()),
                            _ => None,
                        }),
                        _ => None,
                    };
                    let reason = text(header("x-last-death-reason"))
                        .or(latest_death)
                        .or_else(|| text(header("x-first-death-reason")))
                        .unwrap_or_else(|| "rejected".to_owned());
                    // The command's own id (the envelope's), which re-drive publishes again.
                    let message_id = serde_json::from_slice::<serde_json::Value>(&d.data)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned))
                        .or_else(|| d.properties.message_id().as_ref().map(|m| m.to_string()))
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                    DeadMessage {
                        message_id,
                        payload: d.data,
                        reason,
                        retries,
                        acker: d.acker,
                        rabbit,
                    }
                }))
            });
        Ok(stream.boxed())
    }

    /// A temporary queue (exclusive, server-named, deleted with its connection),
    /// bound to the events exchange with `pattern` when one is given, and consumed
    /// without acks: the reply queue and every event subscription.
    async fn temporary_queue(
        &self,
        pattern: Option<&str>,
        consumer_tag: &str,
    ) -> Result<(Channel, String, lapin::Consumer), BrokerError> {
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = bounded(
            self.timeout,
            "declare temporary queue",
            ch.queue_declare("".into(), options, FieldTable::default()),
        )
        .await?;
        let name = queue.name().to_string();
        if let Some(pattern) = pattern {
            let bind = ch.queue_bind(
                name.as_str().into(),
                self.events_exchange().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            );
            bounded(self.timeout, "bind temporary queue", bind).await?;
        }
        let consume = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let consumer = bounded(
            self.timeout,
            "consume temporary queue",
            ch.basic_consume(
                name.as_str().into(),
                consumer_tag.into(),
                consume,
                FieldTable::default(),
            ),
        )
        .await?;
        Ok((ch, name, consumer))
    }

    /// The events published from now on whose type matches `pattern`, as raw CloudEvent
    /// bodies (`kefu events tail`, the SSE feed).
    pub async fn subscribe_events(&self, pattern: &str) -> Result<BoxStream<'static, Vec<u8>>, BrokerError> {
        let (ch, _, consumer) = self.temporary_queue(Some(pattern), "kefu-events-tail").await?;
        let stream = consumer
            .take_while(|item| std::future::ready(item.is_ok()))
            .filter_map(move |item| {
                let _keep = &ch;
                std::future::ready(item.ok().map(|d| d.data))
            });
        Ok(stream.boxed())
    }

    /// Keeps an exclusive reply queue consumed, re-creating it after a reconnect.
    pub async fn reply_listener(self: Arc<Self>, cancel: CancellationToken) {
        let mut backoff = Backoff::reconnect();
        while !cancel.is_cancelled() {
            match self.open_reply_queue().await {
                Ok((ch, mut consumer)) => {
                    backoff.reset();
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            item = consumer.next() => match item {
                                Some(Ok(d)) => {
                                    if let Some(id) = d.properties.correlation_id() {
                                        self.replies.complete(id.as_str(), d.data);
                                    }
                                }
                                Some(Err(err)) => { tracing::warn!(error = %err, "reply queue lost"); break; }
                                None => break,
                            }
                        }
                    }
                    self.reply_queue.write().expect("reply queue lock").take();
                    drop(ch);
                }
                Err(err) => tracing::warn!(error = %err, "cannot open the reply queue; retrying"),
            }
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    pub(super) async fn open_reply_queue(&self) -> Result<(Channel, lapin::Consumer), BrokerError> {
        let (ch, name, consumer) = self.temporary_queue(None, "").await?;
        tracing::info!(queue = %name, "listening for replies");
        *self.reply_queue.write().expect("reply queue lock") = Some(name);
        Ok((ch, consumer))
    }
}
