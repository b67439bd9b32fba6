//! Cursor pagination (SPEC §6): newest first, keyed on
//! `(created_at, id)`, so rows inserted while a client pages never shift
//! or repeat what it has not seen yet.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DomainResult;
use crate::db::{on_db, Db};
use crate::model::{AppError, Page};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Where a page starts: after `(created_at, id)` of the last row seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// The form of every cursor, as the OpenAPI document states it: any text
/// of this form is a position in a list, so a client can never build one
/// the server refuses (an empty cursor is the first page).
pub const CURSOR_PATTERN: &str = "^$|^[0-9]{1,18}-[0-9a-f]{32}$";

impl Cursor {
    /// `<microseconds since 1970>-<id as 32 hex digits>`.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.created_at.timestamp_micros().max(0), self.id.simple())
    }

    pub fn decode(raw: &str) -> DomainResult<Cursor> {
        let bad = || AppError::bad_request("cursor: not a cursor from this API");
        let (micros, id) = raw.split_once('-').ok_or_else(bad)?;
        let well_formed = (1..=18).contains(&micros.len())
            && micros.bytes().all(|b| b.is_ascii_digit())
            && id.len() == 32
            && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(bad());
        }
        let created_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
        Ok(Cursor { created_at, id: Uuid::try_parse(id).map_err(|_| bad())? })
    }
}

/// A validated page request.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> DomainResult<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::validation("limit", format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let after = cursor.filter(|c| !c.is_empty()).map(Cursor::decode).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// The query fetches one row more than the page to learn `hasMore`.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Bounds for `WHERE (created_at < $a OR (created_at = $a AND id < $b))`;
    /// without a cursor, bounds past every row.
    pub fn bounds(&self) -> (DateTime<Utc>, Uuid) {
        match self.after {
            Some(c) => (c.created_at, c.id),
            // Year 9999, not `MAX_UTC`: SQLite compares timestamps as text,
            // and `+262142-…` sorts before every real date.
            None => (DateTime::from_timestamp(253_402_300_799, 0).expect("valid date"), Uuid::max()),
        }
    }

    /// Cuts the extra row and builds the page.
    pub fn finish<R, T>(&self, mut rows: Vec<R>, key: impl Fn(&R) -> Cursor, view: impl Fn(R) -> T) -> Page<T> {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more { rows.last().map(|r| key(r).encode()) } else { None };
        Page { items: rows.into_iter().map(view).collect(), next_cursor, has_more }
    }
}

impl PageRequest {
    /// A page of a list kept in memory, in the order given (the model
    /// catalogue). The cursor's number is the position of the next item,
    /// with a nil id; any position is valid (past the end: an empty page).
    pub fn slice<T>(&self, items: Vec<T>) -> Page<T> {
        let start = self.after.map_or(0, |c| usize::try_from(c.created_at.timestamp_micros()).unwrap_or(usize::MAX));
        let end = start.saturating_add(self.limit as usize);
        let has_more = items.len() > end;
        let items: Vec<T> = items.into_iter().skip(start).take(self.limit as usize).collect();
        let next_cursor = has_more.then(|| {
            let position = DateTime::from_timestamp_micros(end as i64).expect("a small position is a valid instant");
            Cursor { created_at: position, id: Uuid::nil() }.encode()
        });
        Page { items, next_cursor, has_more }
    }
}

/// One page of an org's live rows of `table` (which has `org_id`,
/// `created_at`, `id` and `deleted_at`), newest first, plus one row to tell
/// `hasMore`; finish it with `PageRequest::finish`.
pub async fn fetch_live<R>(
    db: &Db,
    table: &str,
    columns: &str,
    org_id: Uuid,
    page: &PageRequest,
) -> DomainResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    R: Send + Unpin,
{
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE org_id = $1 AND deleted_at IS NULL \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    Ok(on_db!(db, |p| sqlx::query_as::<_, R>(&sql)
        .bind(org_id)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?)
}

/// Soft-deletes an org's row of `table` (once) and audits it as `action`;
/// a second call changes nothing, so DELETE stays idempotent.
pub async fn mark_deleted(
    ctx: &super::Ctx,
    actor: &super::Actor,
    table: &str,
    org_id: Uuid,
    id: Uuid,
    action: &'static str,
) -> DomainResult<()> {
    let sql = format!("UPDATE {table} SET deleted_at = $3 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
    let changed = crate::db::exec_on_db!(&ctx.db, |p| sqlx::query(&sql)
        .bind(org_id)
        .bind(id)
        .bind(ctx.clock.now())
        .execute(p)
        .await)?;
    if changed > 0 {
        let event =
            super::audit::AuditEvent { org_id: Some(org_id), action, target: Some(id.to_string()), details: None };
        super::audit::record(ctx, actor.into(), event).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_lists_page_by_position() {
        let first = PageRequest::parse(Some(2), None).unwrap().slice(vec![1, 2, 3, 4, 5]);
        assert_eq!((first.items.as_slice(), first.has_more), (&[1, 2][..], true));
        let cursor = first.next_cursor.unwrap();
        let second = PageRequest::parse(Some(2), Some(&cursor)).unwrap().slice(vec![1, 2, 3, 4, 5]);
        assert_eq!(second.items, [3, 4]);
        let last = PageRequest::parse(Some(2), second.next_cursor.as_deref()).unwrap().slice(vec![1, 2, 3, 4, 5]);
        assert_eq!((last.items.as_slice(), last.has_more, last.next_cursor), (&[5][..], false, None));
        let far = format!("{}-{}", "9".repeat(18), "f".repeat(32));
        assert!(PageRequest::parse(Some(2), Some(&far)).unwrap().slice(vec![1, 2]).items.is_empty());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c =
            Cursor { created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(), id: Uuid::new_v4() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("not-a-cursor").is_err());
        assert!(Cursor::decode(&format!("12-{}", Uuid::new_v4().hyphenated())).is_err(), "hex digits only");
        // Every text of the documented form is a position, even one no list gave.
        let pattern_max = format!("{}-{}", "9".repeat(18), "f".repeat(32));
        assert!(Cursor::decode(&pattern_max).is_ok());
        assert!(Cursor::decode("0-00000000000000000000000000000000").is_ok());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 20);
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert_eq!(PageRequest::parse(Some(100), None).unwrap().limit, 100);
    }
}
