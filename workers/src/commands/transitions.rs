//! The domain rules of a question's life, as pure functions of its state: which
//! transitions an agent or user may make, what each one leaves behind (status, agent,
//! countdown, notification, event), and when a deadline fires. The handlers ask these
//! first and then write; the unit tests below pin them without any service.

use kefu_common::domain::command::Actor;
use kefu_common::domain::events::{DomainEvent, QuestionFacts};
use kefu_common::domain::outcome::{ErrorCode, Failure};
use kefu_common::domain::{DueKind, NotifyAction, QuestionStatus, SenderType};

/// How the serving agent lets go of a question: quit (back to waiting, its waiting
/// countdown from now), finish, or ask to finish (still served; the end-confirmation
/// countdown starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    Quit,
    Finish,
    RequestFinish,
}

impl Leave {
    pub fn action(self) -> NotifyAction {
        match self {
            Leave::Quit => NotifyAction::Quit,
            Leave::Finish => NotifyAction::Finish,
            Leave::RequestFinish => NotifyAction::RequestFinish,
        }
    }

    pub fn target(self) -> QuestionStatus {
        match self {
            Leave::Quit => QuestionStatus::Waiting,
            Leave::Finish => QuestionStatus::Finished,
            Leave::RequestFinish => QuestionStatus::Serving,
        }
    }

    /// The countdown the question runs afterwards.
    pub fn countdown(self) -> Option<DueKind> {
        match self {
            Leave::Quit => Some(DueKind::Wait),
            Leave::Finish => None,
            Leave::RequestFinish => Some(DueKind::EndConfirm),
        }
    }

    /// A question back on the waiting list has no agent; otherwise it keeps this one.
    pub fn keeps_agent(self) -> bool {
        self.target() != QuestionStatus::Waiting
    }

    pub fn event(self, question: QuestionFacts) -> DomainEvent {
        match self {
            Leave::Quit => DomainEvent::QuestionQuit { question },
            Leave::Finish => DomainEvent::QuestionFinished { question },
            Leave::RequestFinish => DomainEvent::QuestionFinishRequested { question },
        }
    }
}

/// Why an agent may not serve a question in this state (`None`: it may).
pub fn serve_refusal(status: QuestionStatus) -> Option<Failure> {
    match status {
        QuestionStatus::Waiting => None,
        QuestionStatus::Finished => Some(Failure::new(ErrorCode::QuestionFinished, "the question is finished")),
        QuestionStatus::Serving => Some(Failure::new(
            ErrorCode::QuestionAlreadyServed,
            "the question is already being served",
        )),
    }
}

/// The refusal for an agent acting on a question it does not serve (or that changed
/// state under it).
pub fn agent_state_refusal(status: QuestionStatus, current_agent: Option<&str>, serv_id: &str) -> Failure {
    match status {
        QuestionStatus::Waiting => Failure::new(
            ErrorCode::QuestionNotServed,
            "the question is waiting; no agent serves it yet",
        ),
        QuestionStatus::Finished => Failure::new(ErrorCode::QuestionFinished, "the question is finished"),
        QuestionStatus::Serving if current_agent != Some(serv_id) => Failure::new(
            ErrorCode::QuestionServedByOther,
            "the question is served by another agent",
        ),
        QuestionStatus::Serving => {
            Failure::new(ErrorCode::QuestionAlreadyServed, "the question changed state meanwhile")
        }
    }
}

/// The question's owner as the commands see it.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub app_id: i64,
    pub user_id: &'a str,
}

/// Why a user may not act on this question: another app's answers as a missing one
/// (nothing leaks), another user's as not theirs. `None`: it is theirs.
pub fn user_refusal(owner: Owner<'_>, actor: &Actor, doing: &str) -> Option<Failure> {
    match actor {
        Actor::User { app_id, .. } if *app_id != owner.app_id => {
            Some(Failure::new(ErrorCode::UnknownQuestion, "no such question"))
        }
        Actor::User { user_id, .. } if user_id.as_str() == owner.user_id => None,
        Actor::User { .. } => Some(Failure::new(
            ErrorCode::NotQuestionOwner,
            format!("only the user who asked may {doing}"),
        )),
        Actor::Agent { .. } => Some(Failure::new(ErrorCode::UnknownQuestion, "no such question")),
    }
}

/// Where a reopened question goes: back to the agent who had it (no countdown until
/// someone writes), or to the waiting list with its waiting countdown.
pub fn reopened(had_agent: bool) -> (QuestionStatus, Option<DueKind>) {
    if had_agent {
        (QuestionStatus::Serving, None)
    } else {
        (QuestionStatus::Waiting, Some(DueKind::Wait))
    }
}

/// What a user's message to a question in this state does first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserWrite {
    /// Written as it is.
    Write,
    /// A deadline closed it: the late reply reopens it, then is written.
    ReopenFirst,
    Refused(Failure),
}

pub fn user_write(status: QuestionStatus, timed_out: bool) -> UserWrite {
    match (status, timed_out) {
        (QuestionStatus::Finished, true) => UserWrite::ReopenFirst,
        (QuestionStatus::Finished, false) => UserWrite::Refused(Failure::new(
            ErrorCode::QuestionFinished,
            "the question is finished; reopen it first",
        )),
        _ => UserWrite::Write,
    }
}

/// What a chat message does to the question's countdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountdownAfter {
    Start(DueKind),
    Stop,
    Keep,
}

/// An agent's message (unless excluded) starts the user-reply countdown, except while
/// an end request keeps its own; a user's message to a served question stops any; a
/// waiting question's countdown goes on.
pub fn countdown_after_message(
    sender: SenderType,
    excluded: bool,
    status: QuestionStatus,
    pending: Option<DueKind>,
) -> CountdownAfter {
    match sender {
        SenderType::Agent if !excluded && pending != Some(DueKind::EndConfirm) => {
            CountdownAfter::Start(DueKind::UserReply)
        }
        SenderType::User if status == QuestionStatus::Serving => CountdownAfter::Stop,
        _ => CountdownAfter::Keep,
    }
}

/// What the sweep finds on a question it claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineStep {
    /// No countdown any more, or not due yet: someone fired, moved or cancelled it.
    Nothing,
    /// A countdown left behind by a state it does not belong to: dropped.
    Stale,
    /// Due by the stored time: to be checked against the app's durations now.
    Due(DueKind),
}

pub fn deadline_step(status: QuestionStatus, kind: Option<DueKind>, due_at: Option<i64>, now: i64) -> DeadlineStep {
    match (kind, due_at) {
        (Some(kind), Some(due_at)) if due_at <= now => {
            if status == kind.status() {
                DeadlineStep::Due(kind)
            } else {
                DeadlineStep::Stale
            }
        }
        _ => DeadlineStep::Nothing,
    }
}

/// Whether a due countdown still fires now that its duration is read again: not if the
/// app lengthened it (a later deadline) or switched it off (`None`).
pub fn still_due(recomputed: Option<i64>, now: i64) -> bool {
    recomputed.is_some_and(|due| due <= now)
}

/// What a deadline of `kind` does when it fires: the notification's action, and the
/// event (an end confirmation finishes the question; the others time it out).
pub fn fired(kind: DueKind, question: QuestionFacts) -> (NotifyAction, DomainEvent) {
    match kind {
        DueKind::EndConfirm => (NotifyAction::Finish, DomainEvent::QuestionFinished { question }),
        DueKind::UserReply | DueKind::Wait => (NotifyAction::Timeout, DomainEvent::QuestionTimedOut { question }),
    }
}

/// Who a fired deadline's notification is from: the agent if one serves it, else the
/// user.
pub fn deadline_sender(serv_id: Option<&str>, user_id: &str) -> (String, SenderType) {
    match serv_id {
        Some(serv_id) => (serv_id.to_owned(), SenderType::Agent),
        None => (user_id.to_owned(), SenderType::User),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_common::domain::{ServId, UserId};
    use QuestionStatus::*;

    fn facts() -> QuestionFacts {
        QuestionFacts {
            question_id: "q".into(),
            app_id: 1,
            user_id: "u".into(),
            title: "t".into(),
            status: Serving,
            serv_id: Some("alice".into()),
            sequence: 2,
            created_at: 0,
        }
    }

    #[test]
    fn leaving_a_question() {
        assert_eq!(
            (Leave::Quit.target(), Leave::Quit.countdown()),
            (Waiting, Some(DueKind::Wait))
        );
        assert!(!Leave::Quit.keeps_agent());
        assert_eq!((Leave::Finish.target(), Leave::Finish.countdown()), (Finished, None));
        assert!(Leave::Finish.keeps_agent());
        assert_eq!(
            (Leave::RequestFinish.target(), Leave::RequestFinish.countdown()),
            (Serving, Some(DueKind::EndConfirm))
        );
        assert_eq!(Leave::RequestFinish.action(), NotifyAction::RequestFinish);
        assert!(matches!(Leave::Quit.event(facts()), DomainEvent::QuestionQuit { .. }));
        assert!(matches!(
            Leave::RequestFinish.event(facts()),
            DomainEvent::QuestionFinishRequested { .. }
        ));
    }

    #[test]
    fn only_a_waiting_question_can_be_served() {
        assert!(serve_refusal(Waiting).is_none());
        assert_eq!(serve_refusal(Serving).unwrap().code, ErrorCode::QuestionAlreadyServed);
        assert_eq!(serve_refusal(Finished).unwrap().code, ErrorCode::QuestionFinished);
    }

    #[test]
    fn agents_acting_on_questions_they_do_not_serve() {
        let code = |status, current| agent_state_refusal(status, current, "alice").code;
        assert_eq!(code(Waiting, None), ErrorCode::QuestionNotServed);
        assert_eq!(code(Finished, Some("alice")), ErrorCode::QuestionFinished);
        assert_eq!(code(Serving, Some("bob")), ErrorCode::QuestionServedByOther);
        assert_eq!(code(Serving, Some("alice")), ErrorCode::QuestionAlreadyServed);
        let refused = agent_state_refusal(Serving, Some("bob"), "alice");
        assert_eq!(refused.field.as_deref(), Some("serv_id"));
    }

    #[test]
    fn who_may_act_as_the_user() {
        let owner = Owner {
            app_id: 1,
            user_id: "u1",
        };
        let user = |app_id, id: &str| Actor::User {
            app_id,
            user_id: UserId::parse(id).unwrap(),
        };
        assert!(user_refusal(owner, &user(1, "u1"), "reopen").is_none());
        assert_eq!(
            user_refusal(owner, &user(2, "u1"), "reopen").unwrap().code,
            ErrorCode::UnknownQuestion,
            "another app's question is not there"
        );
        let other = user_refusal(owner, &user(1, "u2"), "reopen the question").unwrap();
        assert_eq!(other.code, ErrorCode::NotQuestionOwner);
        assert!(other.debug.ends_with("reopen the question"));
        let agent = Actor::Agent {
            serv_id: ServId::parse("alice").unwrap(),
        };
        assert!(user_refusal(owner, &agent, "reopen").is_some());
    }

    #[test]
    fn reopening_and_late_replies() {
        assert_eq!(reopened(true), (Serving, None));
        assert_eq!(reopened(false), (Waiting, Some(DueKind::Wait)));
        assert_eq!(user_write(Finished, true), UserWrite::ReopenFirst);
        assert!(matches!(user_write(Finished, false), UserWrite::Refused(f) if f.code == ErrorCode::QuestionFinished));
        assert_eq!(user_write(Waiting, false), UserWrite::Write);
        assert_eq!(user_write(Serving, false), UserWrite::Write);
    }

    #[test]
    fn messages_and_countdowns() {
        use CountdownAfter::*;
        use SenderType::*;
        assert_eq!(
            countdown_after_message(Agent, false, Serving, None),
            Start(DueKind::UserReply)
        );
        assert_eq!(
            countdown_after_message(Agent, false, Serving, Some(DueKind::UserReply)),
            Start(DueKind::UserReply),
            "each agent message restarts it"
        );
        assert_eq!(countdown_after_message(Agent, true, Serving, None), Keep, "excluded");
        assert_eq!(
            countdown_after_message(Agent, false, Serving, Some(DueKind::EndConfirm)),
            Keep,
            "an end request keeps its own countdown"
        );
        assert_eq!(
            countdown_after_message(User, false, Serving, Some(DueKind::UserReply)),
            Stop
        );
        assert_eq!(countdown_after_message(User, false, Waiting, Some(DueKind::Wait)), Keep);
    }

    #[test]
    fn deadlines() {
        let now = 10_000;
        assert_eq!(
            deadline_step(Serving, Some(DueKind::UserReply), Some(now), now),
            DeadlineStep::Due(DueKind::UserReply)
        );
        assert_eq!(
            deadline_step(Serving, Some(DueKind::UserReply), Some(now + 1), now),
            DeadlineStep::Nothing
        );
        assert_eq!(deadline_step(Serving, None, None, now), DeadlineStep::Nothing);
        assert_eq!(
            deadline_step(Waiting, Some(DueKind::Wait), Some(1), now),
            DeadlineStep::Due(DueKind::Wait)
        );
        assert_eq!(
            deadline_step(Waiting, Some(DueKind::UserReply), Some(1), now),
            DeadlineStep::Stale
        );
        assert_eq!(
            deadline_step(Finished, Some(DueKind::EndConfirm), Some(1), now),
            DeadlineStep::Stale
        );
        let (action, event) = fired(DueKind::EndConfirm, facts());
        assert_eq!(action, NotifyAction::Finish);
        assert!(matches!(event, DomainEvent::QuestionFinished { .. }));
        let (action, event) = fired(DueKind::Wait, facts());
        assert_eq!(action, NotifyAction::Timeout);
        assert!(matches!(event, DomainEvent::QuestionTimedOut { .. }));
        assert_eq!(deadline_sender(Some("alice"), "u"), ("alice".into(), SenderType::Agent));
        assert_eq!(deadline_sender(None, "u"), ("u".into(), SenderType::User));
    }

    #[test]
    fn timeout_arithmetic() {
        use kefu_common::store::timeouts::Timeouts;
        let t = Timeouts {
            user_reply_secs: 90,
            wait_secs: 0,
            end_confirm_secs: 120,
        };
        let anchor = 1_000;
        assert_eq!(t.due(DueKind::UserReply, anchor), Some(91_000));
        assert_eq!(t.due(DueKind::EndConfirm, anchor), Some(121_000));
        assert_eq!(t.due(DueKind::Wait, anchor), None, "0 is off");
        assert_eq!(t.due(DueKind::UserReply, i64::MAX), Some(i64::MAX), "saturates");
        assert!(still_due(t.due(DueKind::UserReply, anchor), 91_000));
        assert!(!still_due(t.due(DueKind::UserReply, anchor), 90_999), "lengthened");
        assert!(!still_due(t.due(DueKind::Wait, anchor), i64::MAX), "switched off");
    }
}
