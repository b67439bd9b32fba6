//! What a notification says to a person: a title, a body and a link into
//! the dashboard, from its kind and payload. Written here once, so the
//! API, the page and the live stream say the same; an unknown kind (a
//! newer server wrote it) still reads as something.

use serde_json::Value;

/// Title, body and link of a notification of `kind` in the org `slug`.
pub fn describe(slug: &str, kind: &str, payload: &Value) -> (String, String, Option<String>) {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    match kind {
        super::SCHEDULE_FAILED => {
            let name = text("scheduleName");
            let title = format!("Schedule “{name}” failed");
            let link =
                payload.get("scheduleId").and_then(Value::as_str).map(|id| format!("/{slug}/schedules?schedule={id}"));
            (title, schedule_failure(payload), link)
        }
        super::BUDGET_THRESHOLD => {
            let threshold = payload.get("threshold").and_then(Value::as_i64).unwrap_or_default();
            let whose = if text("scope") == crate::domain::billing::budgets::ORG_SCOPE {
                "The organization’s".to_string()
            } else {
                "An agent’s".to_string()
            };
            let title = format!("{whose} monthly budget is {threshold}% spent");
            let body = format!(
                "{} of {} credits spent in {}.{}",
                text("spent"),
                text("monthlyLimit"),
                text("period"),
                if threshold >= 100 {
                    " Metered runs are refused until the next month or a higher budget."
                } else {
                    ""
                }
            );
            (title, body, Some(format!("/{slug}/billing")))
        }
        super::CREDITS_EXHAUSTED => (
            "Credits ran out".to_string(),
            "The last run used the remaining credits: metered runs are refused until you buy credits or the \
             monthly grant arrives."
                .to_string(),
            Some(format!("/{slug}/billing")),
        ),
        other => (other.replace(['.', '_'], " "), String::new(), None),
    }
}

/// The body of a `schedule.failed`: why, and what to do.
fn schedule_failure(payload: &Value) -> String {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let error = text("error");
    match text("reason").as_str() {
        "agent_disabled" => "Its agent is disabled: enable the agent, or point the schedule at another one.".into(),
        "agent_deleted" => "Its agent was deleted: point the schedule at another agent, or delete it.".into(),
        "project_deleted" => "Its project was deleted: point the schedule at another project, or delete it.".into(),
        "workspace_deleted" => "Its workspace was deleted: pick another workspace for the schedule, or none.".into(),
        "payment_required" => format!("The run was refused before it started: {error}"),
        "stalled" => format!("{error}. Raise the schedule's time limit if runs need longer."),
        "run_failed" => {
            let stop = text("stopReason");
            if error.is_empty() {
                format!("The run stopped ({stop}).")
            } else {
                format!("The run stopped ({stop}): {error}")
            }
        }
        "interrupted" => "The server stopped before the run started; the next due time fires as usual.".into(),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_reads_as_words_with_a_link() {
        let failed = json!({ "scheduleId": "s1", "scheduleName": "Digest", "reason": "payment_required",
                             "billingReason": "no_credits", "error": "Not enough credits" });
        let (title, body, link) = describe("acme", "schedule.failed", &failed);
        assert_eq!(title, "Schedule “Digest” failed");
        assert_eq!(body, "The run was refused before it started: Not enough credits");
        assert_eq!(link.as_deref(), Some("/acme/schedules?schedule=s1"));

        let budget = json!({ "scope": "org", "period": "2027-01", "threshold": 80, "monthlyLimit": "50",
                             "spent": "40.5" });
        let (title, body, link) = describe("acme", "budget.threshold", &budget);
        assert_eq!(title, "The organization’s monthly budget is 80% spent");
        assert_eq!(body, "40.5 of 50 credits spent in 2027-01.");
        assert_eq!(link.as_deref(), Some("/acme/billing"));

        let (title, _, link) = describe("acme", "wallet.topped_up", &json!({}));
        assert_eq!((title.as_str(), link), ("wallet topped up", None));
    }

    #[test]
    fn a_failed_run_says_its_stop_reason_and_error() {
        let p = json!({ "reason": "run_failed", "stopReason": "provider_error", "error": "overloaded" });
        assert_eq!(schedule_failure(&p), "The run stopped (provider_error): overloaded");
    }
}
