//! What the Lua scripts answer, each reply a type that decodes itself (as mini-redis parses
//! each command it reads). A script either gives its result or refuses with one code of
//! [`Refusal`], the one table of them, which every script reads as `R.NAME` (generated
//! into the prelude, as keys and event kinds are). Results are never negative, so no
//! result is taken for a refusal.

mod holds;
mod lanes;
mod queue;

pub(super) use holds::{AvailabilityReply, CheckHoldsReply, HoldReply};
pub(super) use lanes::{AdmitCommitReply, AdmitPlanReply, PlaceReply, Range, ReadBlockReply, ReserveReply, placement};
pub(super) use queue::{
    AdmitReply, CloseDrawReply, CountsReply, JoinReply, LeaveReply, PlaceDrawnReply, PresenceReply, ReinstateReply,
};

use crate::store::StoreError;

macro_rules! refusals {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal as $lua:literal,)*) => {
        /// Why a script did nothing. Each has a code of its own, so a reply means one thing
        /// whichever script gave it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Refusal {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Refusal {
            pub const ALL: &[Refusal] = &[$(Refusal::$variant),*];

            pub fn code(self) -> i64 {
                match self { $(Refusal::$variant => $code,)* }
            }

            /// Its name in the scripts: `R.NAME`.
            pub fn lua_name(self) -> &'static str {
                match self { $(Refusal::$variant => $lua,)* }
            }
        }
    };
}

refusals! {
    /// The show's queue settings are not on Redis: it is not loaded.
    NoConfig = -1 as "NO_CONFIG",
    /// The show's queue is paused: nobody was placed.
    Paused = -2 as "PAUSED",
    /// Admission fenced the lane's range off before its batch was placed there.
    FencedOff = -3 as "FENCED_OFF",
    /// Another admission tick moved the cursor since the plan: nothing was committed.
    CursorMoved = -4 as "CURSOR_MOVED",
    /// The show's lanes are not the ones the caller knows.
    OtherLayout = -5 as "OTHER_LAYOUT",
    /// The drawn list staged does not hold everyone drawn (a stale or broken attempt).
    StagingIncomplete = -6 as "STAGING_INCOMPLETE",
    /// The user has no session: nothing was held.
    NotActive = -7 as "NOT_ACTIVE",
    /// The hold would take the user past the seats a user may hold.
    OverLimit = -8 as "OVER_LIMIT",
}

impl Refusal {
    /// The refusal a code stands for, if any.
    pub fn of(code: i64) -> Option<Refusal> {
        Refusal::ALL.iter().copied().find(|refusal| refusal.code() == code)
    }

    /// A refusal the caller doesn't answer itself, as the store's error.
    pub fn into_error(self, show: crate::domain::ShowId) -> StoreError {
        match self {
            Refusal::NoConfig => StoreError::ShowNotLoaded(show),
            Refusal::OtherLayout => StoreError::LayoutChanged(show),
            other => StoreError::Internal(anyhow::anyhow!("a script refused unexpectedly: {other:?}")),
        }
    }
}

/// The table the scripts read the codes from.
pub(super) fn lua_refusal_table() -> String {
    let fields: Vec<String> = Refusal::ALL.iter().map(|r| format!("{} = {}", r.lua_name(), r.code())).collect();
    format!("local R = {{{}}}\n", fields.join(", "))
}

/// A script's reply, decoded from the numbers it answered with.
pub(super) trait ScriptReply: Sized {
    /// The script's file under `lua/`.
    const SCRIPT: &'static str;
    /// Every refusal the script answers with (a test holds each script to its list).
    const REFUSALS: &'static [Refusal];
    /// The reply, or `None` for one the script can't give.
    fn decode(reply: &[i64]) -> Option<Self>;
}

/// The reply decoded: its result, or the refusal the script answered with alone.
pub(super) fn decode<T: ScriptReply>(reply: &[i64]) -> Result<Result<T, Refusal>, StoreError> {
    if let [code] = reply
        && let Some(refusal) = Refusal::of(*code).filter(|refusal| T::REFUSALS.contains(refusal))
    {
        return Ok(Err(refusal));
    }
    T::decode(reply).map(Ok).ok_or_else(|| unexpected(T::SCRIPT, reply))
}

/// A reply the script can't have given: a script and its decoder out of step.
pub(super) fn unexpected(script: &str, reply: &[i64]) -> StoreError {
    StoreError::Internal(anyhow::anyhow!("unexpected reply from {script}: {reply:?}"))
}

/// A non-negative number as a count.
fn count(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

/// A time that is 0 when there is none.
fn time(ms: i64) -> Option<i64> {
    (ms > 0).then_some(ms)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::redis::scripts::tests::scripts;

    /// Each script that refuses, and the refusals its decoder knows.
    fn decoders() -> Vec<(&'static str, &'static [Refusal])> {
        fn entry<T: ScriptReply>() -> (&'static str, &'static [Refusal]) {
            (T::SCRIPT, T::REFUSALS)
        }
        vec![
            entry::<JoinReply>(),
            entry::<AdmitReply>(),
            entry::<CountsReply>(),
            entry::<PresenceReply>(),
            entry::<LeaveReply>(),
            entry::<ReinstateReply>(),
            entry::<CloseDrawReply>(),
            entry::<PlaceDrawnReply>(),
            entry::<AdmitPlanReply>(),
            entry::<AdmitCommitReply>(),
            entry::<ReserveReply>(),
            entry::<PlaceReply>(),
            entry::<HoldReply>(),
            entry::<AvailabilityReply>(),
            entry::<CheckHoldsReply>(),
        ]
    }

    /// The `R.NAME`s a script answers with.
    fn refusals_named(text: &str) -> Vec<Refusal> {
        let names = text
            .split("R.")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_uppercase() && c != '_').next());
        let mut named: Vec<Refusal> = names
            .map(|name| {
                *Refusal::ALL.iter().find(|r| r.lua_name() == name).unwrap_or_else(|| panic!("no refusal {name}"))
            })
            .collect();
        named.dedup();
        named
    }

    #[test]
    fn every_refusal_a_script_answers_with_is_one_its_decoder_knows() {
        let decoders = decoders();
        for (path, text) in scripts() {
            let named = refusals_named(&text);
            let file = path.rsplit('/').next().unwrap();
            let known = decoders.iter().find(|(script, _)| *script == file).map(|(_, known)| *known).unwrap_or(&[]);
            for refusal in &named {
                assert!(
                    known.contains(refusal),
                    "{file} answers R.{}, which its decoder doesn't know",
                    refusal.lua_name()
                );
            }
            for refusal in known {
                assert!(
                    named.contains(refusal),
                    "the decoder of {file} knows {refusal:?}, which the script never gives"
                );
            }
        }
    }

    #[test]
    fn every_script_with_a_decoder_exists() {
        let files: Vec<String> =
            scripts().into_iter().map(|(path, _)| path.rsplit('/').next().unwrap().to_owned()).collect();
        for (script, _) in decoders() {
            assert!(files.iter().any(|file| file == script), "no lua/{script}");
        }
    }

    #[test]
    fn no_script_answers_with_a_bare_negative_number() {
        for (path, text) in scripts() {
            for line in text.lines().filter(|line| !line.trim_start().starts_with("--")) {
                let answer = line.split("return").nth(1).unwrap_or_default();
                let bare = answer.trim_start().trim_start_matches('{').trim_start().starts_with('-');
                assert!(!bare, "{path} answers with a bare negative number: {line}");
                assert!(!answer.contains("and -"), "{path} answers with a bare negative number: {line}");
            }
        }
    }

    #[test]
    fn the_codes_are_all_different_and_negative() {
        for refusal in Refusal::ALL {
            assert!(refusal.code() < 0);
            assert_eq!(Refusal::of(refusal.code()), Some(*refusal));
        }
    }

    #[test]
    fn a_refusal_alone_decodes_as_that_refusal_for_a_script_that_gives_it() {
        for refusal in AdmitReply::REFUSALS {
            assert_eq!(decode::<AdmitReply>(&[refusal.code()]).unwrap().err(), Some(*refusal));
        }
        assert!(decode::<AdmitReply>(&[Refusal::Paused.code()]).is_err(), "admit.lua never pauses a reply");
    }
}
