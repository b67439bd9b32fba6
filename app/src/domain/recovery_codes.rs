//! Recovery codes: ten one-time codes, shown once when TOTP is turned on
//! (or regenerated), stored as SHA-256 hashes. Each has 50 random bits, so
//! a fast hash is enough (unlike passwords, they are never chosen by
//! people).

use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};

pub const COUNT: usize = 10;
/// No 0/o, 1/l/i: codes are read off paper.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// `xxxxx-xxxxx`.
fn generate_one() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut pick = || ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
    let first: String = (0..5).map(|_| pick()).collect();
    let second: String = (0..5).map(|_| pick()).collect();
    format!("{first}-{second}")
}

/// What people type: case, spaces and the dash do not matter.
fn normalize(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(normalize(code).as_bytes()))
}

/// Whether `input` looks like a recovery code rather than a 6-digit code.
pub fn looks_like_one(input: &str) -> bool {
    normalize(input).len() == 10
}

/// Replaces the user's codes with ten new ones and answers them (once).
pub async fn regenerate(ctx: &Ctx, user_id: Uuid) -> DomainResult<Vec<String>> {
    let codes: Vec<String> = (0..COUNT).map(|_| generate_one()).collect();
    let now = ctx.clock.now();
    let done: DomainResult<()> = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        for code in &codes {
            sqlx::query("INSERT INTO recovery_codes (id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(Uuid::new_v4())
                .bind(user_id)
                .bind(hash(code))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await);
    done?;
    Ok(codes)
}

/// Uses up `code` if it is one of the user's unused codes.
pub async fn consume(ctx: &Ctx, user_id: Uuid, code: &str) -> DomainResult<bool> {
    let used = exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL"
    )
    .bind(user_id)
    .bind(hash(code))
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    Ok(used == 1)
}

pub async fn remaining(ctx: &Ctx, user_id: Uuid) -> DomainResult<i64> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"
    )
    .bind(user_id)
    .fetch_one(p)
    .await)?)
}

pub async fn delete_all(ctx: &Ctx, user_id: Uuid) -> DomainResult<()> {
    exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(p)
        .await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_unambiguous_characters_and_typing_style_does_not_matter() {
        let code = generate_one();
        assert_eq!(code.len(), 11);
        assert!(looks_like_one(&code));
        assert!(!code.contains(['0', 'o', '1', 'l', 'i']));
        assert_eq!(hash(&code), hash(&format!(" {} ", code.to_uppercase().replace('-', " "))));
        assert!(!looks_like_one("123456"));
    }
}
