//! The topology Kefu declares on every (re)connect: the command exchange and quorum
//! queue, the dead-letter exchange and queue, the delay queues, and each task queue's
//! own three.

use super::*;

impl Rabbit {
    pub(super) async fn declare_topology(&self, ch: &Channel) -> Result<(), BrokerError> {
        let t = self.timeout;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let commands_x = format!("{}.commands", self.prefix);
        let dlx = format!("{}.dlx", self.prefix);
        bounded(
            t,
            "declare exchange",
            ch.exchange_declare(
                commands_x.clone().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        bounded(
            t,
            "declare exchange",
            ch.exchange_declare(dlx.clone().into(), ExchangeKind::Fanout, durable, FieldTable::default()),
        )
        .await?;

        // Domain events for downstream systems: routing key = the event's type.
        bounded(
            t,
            "declare exchange",
            ch.exchange_declare(
                self.events_exchange().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            ),
        )
        .await?;

        let mut dead_args = FieldTable::default();
        str_arg(&mut dead_args, "x-queue-type", "quorum");
        self.declare_queue(ch, self.dead_queue(), dead_args, Some((&dlx, "")))
            .await?;

        self.declare_queue(
            ch,
            self.commands_queue(),
            self.work_queue_args(&dlx),
            Some((&commands_x, ROUTING_KEY)),
        )
        .await?;

        // Quorum delay queues: their dead-lettering back into the command queue is
        // at-least-once too (a classic queue would drop expiring messages when the
        // command queue refuses them).
        for ms in &self.schedule_ms {
            let args = delay_queue_args(*ms, &commands_x, ROUTING_KEY);
            self.declare_queue(ch, self.retry_queue(*ms), args, None).await?;
        }
        let tasks = self.tasks.read().expect("tasks lock").clone();
        for task in &tasks {
            self.declare_task_topology(ch, task).await?;
        }
        Ok(())
    }

    /// `<prefix>.<name>`: the task queue (quorum, dead-lettering into its own
    /// `<prefix>.<name>.dlx` → `<prefix>.<name>.dead`), and one delay queue per retry level
    /// (`<prefix>.<name>.retry.<ms>`) expiring back into it.
    pub(super) async fn declare_task_topology(&self, ch: &Channel, task: &TaskQueue) -> Result<(), BrokerError> {
        let queue = self.task_queue(&task.name);
        let dlx = format!("{queue}.dlx");
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        bounded(
            self.timeout,
            "declare exchange",
            ch.exchange_declare(dlx.clone().into(), ExchangeKind::Fanout, durable, FieldTable::default()),
        )
        .await?;
        let mut dead_args = FieldTable::default();
        str_arg(&mut dead_args, "x-queue-type", "quorum");
        self.declare_queue(ch, format!("{queue}.dead"), dead_args, Some((&dlx, "")))
            .await?;
        self.declare_queue(ch, queue.clone(), self.work_queue_args(&dlx), None)
            .await?;
        for ms in task.retry.levels_ms() {
            // Expiring through the default exchange straight back into the task queue.
            let args = delay_queue_args(ms, "", &queue);
            self.declare_queue(ch, format!("{queue}.retry.{ms}"), args, None)
                .await?;
        }
        Ok(())
    }

    /// A work queue (commands or tasks): quorum, dead-lettering at least once into `dlx`,
    /// refusing publishes when full, with the delivery limit for crashing messages.
    pub(super) fn work_queue_args(&self, dlx: &str) -> FieldTable {
        let mut args = FieldTable::default();
        str_arg(&mut args, "x-queue-type", "quorum");
        str_arg(&mut args, "x-dead-letter-exchange", dlx);
        str_arg(&mut args, "x-dead-letter-strategy", "at-least-once");
        str_arg(&mut args, "x-overflow", "reject-publish");
        int_arg(&mut args, "x-delivery-limit", i64::from(self.delivery_limit));
        int_arg(&mut args, "x-max-length", i64::from(self.queue_max_length));
        args
    }

    /// Registers a task queue and declares it now (and after every reconnect).
    pub async fn declare_tasks(&self, task: &TaskQueue) -> Result<(), BrokerError> {
        {
            let mut tasks = self.tasks.write().expect("tasks lock");
            if !tasks.iter().any(|t| t.name == task.name) {
                tasks.push(task.clone());
            }
        }
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        let declared = self.declare_task_topology(&ch, task).await;
        let _ = bounded(self.timeout, "close channel", ch.close(200, "declared".into())).await;
        declared
    }

    /// A durable queue, bound to `(exchange, routing key)` when given.
    pub(super) async fn declare_queue(
        &self,
        ch: &Channel,
        name: String,
        args: FieldTable,
        bind: Option<(&str, &str)>,
    ) -> Result<(), BrokerError> {
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        bounded(
            self.timeout,
            "declare queue",
            ch.queue_declare(name.clone().into(), options, args),
        )
        .await?;
        if let Some((exchange, key)) = bind {
            let bind = ch.queue_bind(
                name.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            );
            bounded(self.timeout, "bind queue", bind).await?;
        }
        Ok(())
    }
}
