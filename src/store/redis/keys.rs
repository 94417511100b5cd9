//! Key names. All of one show's keys share the hash tag `{s<id>}`, so they live in one hash
//! slot and a multi-key Lua script over them is legal in a cluster; different shows spread
//! over the masters. The catalog lives under `{cat}`.

use crate::domain::{ConcertId, SeatId, ShowId};

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn show(&self, show: ShowId) -> ShowKeys {
        ShowKeys { base: format!("{}:{{s{show}}}", self.prefix) }
    }

    /// A lane of a laned show (see [`super::lanes`]): keys under the lane's
    /// own hash tag, which [`lane_tags`] picks on another master than the show's.
    pub fn lane(&self, tag: &str) -> ShowKeys {
        ShowKeys { base: format!("{}:{{{tag}}}", self.prefix) }
    }

    pub fn catalog(&self) -> CatalogKeys {
        CatalogKeys { base: format!("{}:{{cat}}", self.prefix) }
    }

    /// Pub/Sub channel announcing admission cursors as `<show>:<cursor>`.
    pub fn cursor_channel(&self) -> String {
        format!("{}:cursor", self.prefix)
    }
}

/// One show's keys. Scripts that reach keys named by data (a user's membership bucket, a
/// seat's hold) get `base` as their first argument and build those names themselves, with
/// the same suffixes as here.
#[derive(Debug, Clone)]
pub struct ShowKeys {
    pub base: String,
}

macro_rules! show_keys {
    ($($(#[$doc:meta])* $name:ident => $suffix:literal),* $(,)?) => {
        impl ShowKeys {
            $($(#[$doc])* pub fn $name(&self) -> String { format!("{}:{}", self.base, $suffix) })*
        }

        /// Every show key's name and suffix, with the prefixes of the keys named by data
        /// (a seat, a user, a bucket): the scripts get them as their table `K`.
        pub const SHOW_KEYS: &[(&str, &str)] = &[
            $((stringify!($name), $suffix),)*
            ("hold", HOLD),
            ("user_holds", USER_HOLDS),
            ("member", MEMBER),
            ("seat_channel", SEAT_CHANNEL),
            ("spent_challenge", SPENT_CHALLENGE),
            ("drawn_staging", DRAWN_STAGING),
            ("block", BLOCK),
        ];
    };
}

/// Prefix of a seat's hold (`<base>:h:<seat>`).
const HOLD: &str = "h";
/// Prefix of a user's holds index (`<base>:uh:<user hex>`).
const USER_HOLDS: &str = "uh";
/// Prefix of a membership bucket (`<base>:m:<bucket hex>`).
const MEMBER: &str = "m";
const SEAT_CHANNEL: &str = "sch";
const SPENT_CHALLENGE: &str = "pow";
/// Prefix of a lane's block of placed users (`<lane base>:blk:<first seq>`, see place.lua).
const BLOCK: &str = "blk";
/// Prefix of one attempt's staging list of a draw (`<base>:drawst:<attempt>`).
const DRAWN_STAGING: &str = "drawst";

/// The Lua that names keys as keys.rs does: the table `K` of `entries` and
/// `key(base, name, ...)`, which joins base, the name's suffix and any further parts with
/// `:` (a name keys.rs doesn't know is an error, not a new key).
pub fn lua_key_table(entries: &[(&str, &str)]) -> String {
    let fields: Vec<String> = entries.iter().map(|(name, suffix)| format!("{name} = '{suffix}'")).collect();
    format!(
        "local K = {{{}}}\n\
         local function key(base, name, ...)\n\
         \x20 local suffix = K[name]\n\
         \x20 if not suffix then error('keys.rs names no key ' .. tostring(name)) end\n\
         \x20 return table.concat({{base, suffix, ...}}, ':')\n\
         end\n",
        fields.join(", ")
    )
}

show_keys! {
    /// Hash: the queue settings the scripts read.
    config => "cfg",
    /// Counter: the last join sequence number handed out.
    seq => "seq",
    /// List: user ids (16 raw bytes) in join order.
    waiting => "wait",
    /// List: a fair opening's drawn pre-queue in draw order (user ids, 16 raw bytes); its
    /// seqs come before every seq on the waiting list, so admission takes it first.
    drawn => "drawn",
    /// Set: drawn users who left while their draw was being placed (see place_drawn.lua).
    draw_left => "drawleft",
    /// Counter: users popped off the drawn and waiting lists.
    cursor => "cur",
    /// Counter: users admitted.
    admitted => "adm",
    /// Counter: users who left while waiting and are still on the list (on a lane: every
    /// waiting place left there).
    left_waiting => "leftw",
    /// Sorted set: active user -> session expiry (ms).
    active => "act",
    /// Set: active users who have claimed their session.
    claimed => "clm",
    /// Hash: the admission token bucket.
    bucket => "tb",
    /// Stream: state changes for the write-behind worker.
    events => "ev",
    /// Sorted set: held seat -> hold expiry (ms).
    held => "held",
    /// Set: seats known sold.
    sold => "sold",
    /// Hash: seat id -> seat description, the seat map cache.
    seats => "seats",
    /// String: the write-behind lease (which instance drains this show's stream).
    lease => "wbl",
    /// Sorted set: reinstated waiters (user -> seq), whose places are not on the waiting
    /// list; admission merges them in by seq.
    reinstated => "reinst",
    /// Hash: seq gaps `lo -> hi` that the cursor jumps over (see `domain::queue::Hole`).
    holes => "holes",
    /// Counter: how many seqs the holes cover, so counts can say how many really joined.
    holes_size => "holesz",
    /// List, on a laned show's home: the seq ranges handed to its lanes' batches, in seq
    /// order, as `lane:first:n:ms` (see reserve.lua).
    ranges => "ranges",
    /// Counter, on a lane: the places made there (its share of the show's joins).
    placed => "placed",
    /// Counter, on a laned show's home: the users admitted off its lanes (the others, drawn
    /// or reinstated, waited on home).
    lane_admitted => "laneadm",
}

impl ShowKeys {
    /// Pub/Sub channel (sharded in a cluster) announcing the show's seat changes as
    /// `<kind>:<until ms>:<seats>` (see `push::seats::SeatChange`). Not a key.
    pub fn seat_channel(&self) -> String {
        format!("{}:{SEAT_CHANNEL}", self.base)
    }

    /// String: a spent proof-of-work challenge, until the challenge expires.
    pub fn spent_challenge(&self, id: &str) -> String {
        format!("{}:{SPENT_CHALLENGE}:{id}", self.base)
    }

    pub fn hold(&self, seat: SeatId) -> String {
        format!("{}:{HOLD}:{seat}", self.base)
    }

    /// Sorted set: the seats a user holds -> hold expiry (ms). The Lua helper
    /// `user_holds_key` computes the same.
    pub fn user_holds(&self, user: &uuid::Uuid) -> String {
        format!("{}:{USER_HOLDS}:{}", self.base, user.simple())
    }

    /// The membership bucket of a user: a small hash of user id -> seq. 16,384 buckets keep
    /// each under Redis' listpack limit (128 entries) up to about a million waiters, so a
    /// member costs ~23 bytes instead of ~96 in a plain hash.
    pub fn member_bucket(&self, user: &uuid::Uuid) -> String {
        self.membership(member_bucket(user))
    }

    /// The list one attempt at placing a draw builds before it becomes `drawn`.
    pub fn drawn_staging(&self, attempt: &str) -> String {
        format!("{}:{DRAWN_STAGING}:{attempt}", self.base)
    }

    /// Membership bucket number `n` (0..MEMBER_BUCKETS).
    pub fn membership(&self, n: u16) -> String {
        format!("{}:{MEMBER}:{n:04x}", self.base)
    }

    /// Every key of the show that is not named by a seat, a user or a bucket.
    pub fn fixed(&self) -> Vec<String> {
        vec![
            self.config(),
            self.seq(),
            self.waiting(),
            self.drawn(),
            self.draw_left(),
            self.cursor(),
            self.admitted(),
            self.left_waiting(),
            self.active(),
            self.claimed(),
            self.bucket(),
            self.events(),
            self.held(),
            self.sold(),
            self.seats(),
            self.lease(),
            self.reinstated(),
            self.holes(),
            self.holes_size(),
            self.ranges(),
            self.lane_admitted(),
        ]
    }

    /// A lane's block of the range of seqs from `first` (see place.lua).
    pub fn block(&self, first: i64) -> String {
        format!("{}:{BLOCK}:{first}", self.base)
    }

    /// A lane's keys but its blocks (its membership buckets aside).
    pub fn lane_fixed(&self) -> Vec<String> {
        vec![self.events(), self.lease(), self.placed(), self.left_waiting()]
    }
}

/// How many membership buckets a show has (the top 14 bits of a user id pick one).
pub const MEMBER_BUCKETS: u16 = 1 << 14;

/// Top 14 bits of the user id. The Lua helper `bucket_key` computes the same.
pub fn member_bucket(user: &uuid::Uuid) -> u16 {
    let b = user.as_bytes();
    (u16::from(b[0]) << 8 | u16::from(b[1])) >> 2
}

/// The hash slot of a hash tag, as Redis Cluster computes it (CRC16/XMODEM mod 16384).
pub fn slot_of_tag(tag: &str) -> u16 {
    let crc = tag.bytes().fold(0u16, |crc, byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |c, _| if c & 0x8000 != 0 { c << 1 ^ 0x1021 } else { c << 1 })
    });
    crc % 16384
}

/// Hash tags for a show's `lanes` lanes (`s<id>~<k>`), each on a master no other lane of
/// the show is on, and not on the show's own master while there are masters to spare;
/// `master_of` names the master of a slot. Fewer than asked when the masters run out.
pub fn lane_tags<M: PartialEq>(show: ShowId, lanes: usize, master_of: impl Fn(u16) -> Option<M>) -> Vec<String> {
    let home = master_of(slot_of_tag(&format!("s{show}")));
    let mut taken: Vec<Option<M>> = Vec::new();
    let mut tags = Vec::new();
    for spare_home in [true, false] {
        for k in 1..=4096 {
            if tags.len() == lanes {
                return tags;
            }
            let tag = format!("s{show}~{k}");
            let master = master_of(slot_of_tag(&tag));
            if master.is_some() && !taken.contains(&master) && !(spare_home && master == home) {
                taken.push(master);
                tags.push(tag);
            }
        }
    }
    tags
}

#[derive(Debug, Clone)]
pub struct CatalogKeys {
    pub base: String,
}

/// The catalog's key names and suffixes (the catalog script's table `K`).
pub const CATALOG_KEYS: &[(&str, &str)] =
    &[("loaded", "loaded"), ("concerts", "concerts"), ("concert", "c"), ("show", "s"), ("concert_shows", "shows")];

fn catalog_suffix(name: &str) -> &'static str {
    CATALOG_KEYS.iter().find(|(known, _)| *known == name).map_or("", |(_, suffix)| suffix)
}

impl CatalogKeys {
    /// String: set once the whole catalog has been loaded from Postgres.
    pub fn loaded(&self) -> String {
        format!("{}:{}", self.base, catalog_suffix("loaded"))
    }
    /// Set: concert ids.
    pub fn concerts(&self) -> String {
        format!("{}:{}", self.base, catalog_suffix("concerts"))
    }
    /// Hash: a concert's title.
    pub fn concert(&self, id: ConcertId) -> String {
        format!("{}:{}:{id}", self.base, catalog_suffix("concert"))
    }
    /// Set: a concert's show ids.
    pub fn concert_shows(&self, id: ConcertId) -> String {
        format!("{}:{}", self.concert(id), catalog_suffix("concert_shows"))
    }
    /// Hash: a show's start and seat count.
    pub fn show(&self, id: ShowId) -> String {
        format!("{}:{}:{id}", self.base, catalog_suffix("show"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shows_keys_share_one_hash_tag() {
        let show = Keys::new("bo").show(ShowId(42));
        assert_eq!(show.waiting(), "bo:{s42}:wait");
        assert_eq!(show.hold(SeatId(7)), "bo:{s42}:h:7");
        let user = uuid::Uuid::from_bytes([0xff, 0xff, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(show.member_bucket(&user), "bo:{s42}:m:3fff");
    }

    #[test]
    fn a_tags_slot_is_the_one_redis_computes() {
        // CLUSTER KEYSLOT foo on redis-server 7.0; CRC16/XMODEM's check value.
        assert_eq!(slot_of_tag("foo"), 12182);
        assert_eq!(slot_of_tag("123456789"), 0x31c3);
    }

    #[test]
    fn lanes_go_to_masters_of_their_own_and_spare_the_shows_while_they_can() {
        let thirds = |slot: u16| Some(format!("m{}", slot / 5462));
        let home = thirds(slot_of_tag("s42"));
        let two = lane_tags(ShowId(42), 2, thirds);
        let masters: Vec<_> = two.iter().map(|tag| thirds(slot_of_tag(tag))).collect();
        assert_eq!(two.len(), 2);
        assert!(masters[0] != masters[1] && !masters.contains(&home), "{masters:?} {home:?}");
        let three = lane_tags(ShowId(42), 3, thirds);
        let masters: Vec<_> = three.iter().map(|tag| thirds(slot_of_tag(tag))).collect();
        assert!(masters.contains(&home) && masters.iter().all(|m| masters.iter().filter(|n| *n == m).count() == 1));
        assert_eq!(lane_tags(ShowId(42), 4, thirds).len(), 3);
    }
}
