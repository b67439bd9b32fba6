//! What is sent to the model fits its context window (SPEC §10 rules,
//! issue "Agents, models and chat"): the system prompt and the current
//! turn always go; older turns make room oldest first — their tool results
//! are cut short before any whole turn is dropped — and the run records
//! how much was left out.
//!
//! Tokens are estimated, not counted (no tokenizer per provider): a
//! quarter of the characters, rounded up, plus a few per message for the
//! framing, which over-counts English prose and code slightly, so an
//! estimate that fits leaves the real count inside the window.

use crate::domain::providers::{ChatMessage, ToolSpec};

/// The window assumed for a model whose `context_window` the operator did
/// not give.
pub const DEFAULT_WINDOW: u64 = 32_768;
/// Kept free for the answer: a quarter of the window, at most this many.
const ANSWER_RESERVE_MAX: u64 = 4_096;
/// Framing tokens counted per message (role, separators).
const PER_MESSAGE: u64 = 4;
/// What a cut tool result keeps of its start.
const CUT_RESULT_CHARS: usize = 200;

pub fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn message_tokens(m: &ChatMessage) -> u64 {
    PER_MESSAGE
        + match m {
            ChatMessage::User { content } | ChatMessage::Tool { content, .. } => tokens(content),
            ChatMessage::Assistant { content, tool_calls } => {
                tokens(content) + tool_calls.iter().map(|c| tokens(&c.name) + tokens(&c.arguments)).sum::<u64>()
            }
        }
}

/// The tokens left for the conversation in a window of `window`, once the
/// system prompt, the tools' descriptions and the answer's reserve are
/// counted.
pub fn budget(window: Option<u64>, system: &str, tools: &[ToolSpec]) -> u64 {
    let window = window.unwrap_or(DEFAULT_WINDOW);
    let reserve = (window / 4).min(ANSWER_RESERVE_MAX);
    let tools: u64 =
        tools.iter().map(|t| tokens(&t.name) + tokens(&t.description) + tokens(&t.parameters.to_string())).sum();
    window.saturating_sub(reserve + PER_MESSAGE + tokens(system) + tools)
}

/// A history made to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub messages: Vec<ChatMessage>,
    /// Whole messages dropped (older turns).
    pub omitted_messages: u64,
    /// Estimated tokens left out, dropped or cut.
    pub omitted_tokens: u64,
}

/// Fits `history` into `budget` tokens. The current turn is everything
/// from the last user (or peer) message on; it always goes. `Err` with
/// the estimate when even the current turn, its tool results cut, does
/// not fit.
pub fn fit(history: &[ChatMessage], budget: u64) -> Result<Fitted, u64> {
    let mut messages = history.to_vec();
    let total = |ms: &[ChatMessage]| ms.iter().map(message_tokens).sum::<u64>();
    let mut used = total(&messages);
    let mut fitted = Fitted { messages: Vec::new(), omitted_messages: 0, omitted_tokens: 0 };
    if used <= budget {
        fitted.messages = messages;
        return Ok(fitted);
    }
    let current = messages.iter().rposition(|m| matches!(m, ChatMessage::User { .. })).unwrap_or(0);
    // 1. Older turns' tool results, oldest first, cut short.
    for m in messages[..current].iter_mut() {
        if used <= budget {
            break;
        }
        used -= cut_result(m, &mut fitted.omitted_tokens);
    }
    // 2. Whole older turns, oldest first: a turn is a user message and
    //    what answered it, so a tool call never goes without its result.
    let mut start = 0;
    while used > budget && start < current {
        let end = messages[start + 1..current]
            .iter()
            .position(|m| matches!(m, ChatMessage::User { .. }))
            .map_or(current, |i| start + 1 + i);
        let dropped: u64 = messages[start..end].iter().map(message_tokens).sum();
        used -= dropped;
        fitted.omitted_tokens += dropped;
        fitted.omitted_messages += (end - start) as u64;
        start = end;
    }
    let mut kept = messages.split_off(start);
    // 3. The current turn's own tool results, oldest first.
    for m in kept.iter_mut() {
        if used <= budget {
            break;
        }
        used -= cut_result(m, &mut fitted.omitted_tokens);
    }
    if used > budget {
        return Err(used);
    }
    fitted.messages = kept;
    Ok(fitted)
}

/// Cuts a long tool result to its start, saying so; answers the tokens
/// saved.
fn cut_result(m: &mut ChatMessage, omitted: &mut u64) -> u64 {
    let ChatMessage::Tool { content, .. } = m else { return 0 };
    let chars = content.chars().count();
    if chars <= CUT_RESULT_CHARS * 2 {
        return 0;
    }
    let before = tokens(content);
    let head: String = content.chars().take(CUT_RESULT_CHARS).collect();
    *content = format!("{head}… [{} characters left out to fit the context window]", chars - CUT_RESULT_CHARS);
    let saved = before.saturating_sub(tokens(content));
    *omitted += saved;
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::providers::ToolCall;

    fn user(text: &str) -> ChatMessage {
        ChatMessage::User { content: text.into() }
    }

    fn said(text: &str) -> ChatMessage {
        ChatMessage::Assistant { content: text.into(), tool_calls: Vec::new() }
    }

    fn called(id: &str) -> ChatMessage {
        ChatMessage::Assistant {
            content: String::new(),
            tool_calls: vec![ToolCall { id: id.into(), name: "search".into(), arguments: "{}".into() }],
        }
    }

    fn result(id: &str, chars: usize) -> ChatMessage {
        ChatMessage::Tool { tool_call_id: id.into(), content: "x".repeat(chars) }
    }

    #[test]
    fn a_history_that_fits_goes_whole() {
        let history = vec![user("hello"), said("hi"), user("again")];
        let fitted = fit(&history, 1_000).unwrap();
        assert_eq!((fitted.messages, fitted.omitted_messages, fitted.omitted_tokens), (history, 0, 0));
    }

    #[test]
    fn older_tool_results_are_cut_before_turns_are_dropped() {
        let history = vec![user("first"), called("a"), result("a", 8_000), said("done"), user("now")];
        // 8,000 characters are 2,000 tokens; the budget leaves room for
        // everything but the long result.
        let fitted = fit(&history, 300).unwrap();
        assert_eq!(fitted.messages.len(), 5, "no turn dropped");
        assert_eq!(fitted.omitted_messages, 0);
        let ChatMessage::Tool { content, .. } = &fitted.messages[2] else { panic!() };
        assert!(content.ends_with("[7800 characters left out to fit the context window]"), "{content}");
        assert!(fitted.omitted_tokens >= 1_900);
    }

    #[test]
    fn older_turns_go_oldest_first_and_the_current_turn_stays() {
        let long = "y".repeat(4_000);
        let history = vec![user(&long), said(&long), user(&long), said("short"), user("the question")];
        let fitted = fit(&history, 1_100).unwrap();
        assert_eq!(fitted.messages, vec![user(&long), said("short"), user("the question")]);
        assert_eq!(fitted.omitted_messages, 2);
        assert_eq!(fitted.omitted_tokens, 2 * (1_000 + PER_MESSAGE));
    }

    #[test]
    fn a_tool_call_never_loses_its_result() {
        let history = vec![user("q1"), called("a"), result("a", 100), said("a1"), user("q2"), said("a2"), user("q3")];
        let fitted = fit(&history, 30).unwrap();
        // The first turn went whole, call and result together.
        assert_eq!(fitted.messages, vec![user("q2"), said("a2"), user("q3")]);
        assert_eq!(fitted.omitted_messages, 4);
    }

    #[test]
    fn the_current_turns_results_are_cut_last_and_too_much_is_an_error() {
        let history = vec![user("old"), user("q"), called("a"), result("a", 20_000)];
        let fitted = fit(&history, 200).unwrap();
        assert_eq!(fitted.omitted_messages, 1, "the older turn went first");
        assert!(matches!(&fitted.messages[2], ChatMessage::Tool { content, .. } if content.len() < 400));
        assert!(fit(&[user(&"z".repeat(10_000))], 100).is_err(), "the current turn alone is too long");
    }

    #[test]
    fn the_budget_leaves_room_for_the_prompt_the_tools_and_the_answer() {
        assert_eq!(budget(Some(8_000), "", &[]), 8_000 - 2_000 - PER_MESSAGE);
        assert_eq!(budget(Some(200_000), &"s".repeat(400), &[]), 200_000 - 4_096 - PER_MESSAGE - 100);
        assert_eq!(budget(None, "", &[]), DEFAULT_WINDOW - 4_096 - PER_MESSAGE);
    }
}
