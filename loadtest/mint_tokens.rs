//! Prints signed tokens for load tests, one per line, with the secret the service uses.
//!   mint_tokens users N            user tokens
//!   mint_tokens queue N SHOW FROM  queue tokens of SHOW with seq FROM, FROM+1, ...

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::io::{BufWriter, Write};
use std::time::Duration;

use boxoffice::auth::Tokens;
use boxoffice::config::Settings;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::from_env()?;
    let tokens = Tokens::new(&settings.auth.jwt_secret, Duration::from_secs(24 * 3600));
    let n: i64 = args.get(1).map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.first().map(String::as_str) {
        Some("users") => {
            for _ in 0..n {
                writeln!(out, "{}", tokens.issue_user().1.token)?;
            }
        }
        Some("queue") => {
            let show: boxoffice::domain::ShowId =
                args.get(2).ok_or_else(|| anyhow::anyhow!("SHOW missing"))?.parse()?;
            let from: i64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
            for seq in from..from + n {
                writeln!(out, "{}", tokens.issue_queue(uuid::Uuid::new_v4(), show, seq).token)?;
            }
        }
        _ => anyhow::bail!("usage: mint_tokens users N | mint_tokens queue N SHOW [FROM]"),
    }
    Ok(())
}
