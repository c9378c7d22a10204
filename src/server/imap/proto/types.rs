//! The commands a client sends, as the parser hands them to the session: owned,
//! typed, with every wire spelling already resolved (case, macros, quoting,
//! literals), but with strings kept as the client's bytes: what they mean (a
//! charset, a mailbox name's encoding) depends on session state the parser lacks.

use std::fmt;

use super::utf7::{self, Utf7Error};

/// One command: the client's tag, echoed in the tagged reply, and what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// Every command the server understands, grouped by the state RFC 3501 section 6
/// allows it in (the session checks the state; the parser does not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandBody {
    // Any state.
    Capability,
    Noop,
    Logout,
    /// RFC 2971: the client's fields, or `None` for `ID NIL`.
    Id(Option<IdFields>),

    // Not authenticated.
    StartTls,
    /// `mechanism` is uppercased; `initial_response` (SASL-IR, RFC 4959) is already
    /// base64-decoded, and `=` gives an empty one.
    Authenticate {
        mechanism: String,
        initial_response: Option<Secret>,
    },
    Login {
        username: Vec<u8>,
        password: Secret,
    },

    // Authenticated.
    /// RFC 5161: the capability names, uppercased.
    Enable(Vec<String>),
    Select {
        mailbox: Mailbox,
        params: SelectParams,
    },
    Examine {
        mailbox: Mailbox,
        params: SelectParams,
    },
    /// `special_use`: RFC 6154 `(USE (\Sent ...))` attributes, with their backslash.
    Create {
        mailbox: Mailbox,
        special_use: Vec<String>,
    },
    Delete(Mailbox),
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe(Mailbox),
    Unsubscribe(Mailbox),
    List(List),
    Lsub {
        reference: Vec<u8>,
        pattern: Vec<u8>,
    },
    Namespace,
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    /// `message` is the literal's bytes.
    Append {
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    },
    Idle,
    /// RFC 9208: the quota root's name.
    GetQuota(Vec<u8>),
    GetQuotaRoot(Mailbox),
    /// Parsed so that it can be refused with a proper reply.
    SetQuota {
        root: Vec<u8>,
        limits: Vec<(String, u64)>,
    },

    // Selected.
    Check,
    Close,
    /// RFC 3691.
    Unselect,
    Expunge,
    /// UIDPLUS (RFC 4315): expunge only these UIDs.
    UidExpunge(SequenceSet),
    Search(Search),
    Fetch(Fetch),
    Store(Store),
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// RFC 6851.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
}

impl CommandBody {
    /// The command's name as clients write it, for logs and replies
    /// ("UID FETCH completed").
    pub fn name(&self) -> &'static str {
        use CommandBody as C;
        match self {
            C::Capability => "CAPABILITY",
            C::Noop => "NOOP",
            C::Logout => "LOGOUT",
            C::Id(_) => "ID",
            C::StartTls => "STARTTLS",
            C::Authenticate { .. } => "AUTHENTICATE",
            C::Login { .. } => "LOGIN",
            C::Enable(_) => "ENABLE",
            C::Select { .. } => "SELECT",
            C::Examine { .. } => "EXAMINE",
            C::Create { .. } => "CREATE",
            C::Delete(_) => "DELETE",
            C::Rename { .. } => "RENAME",
            C::Subscribe(_) => "SUBSCRIBE",
            C::Unsubscribe(_) => "UNSUBSCRIBE",
            C::List(_) => "LIST",
            C::Lsub { .. } => "LSUB",
            C::Namespace => "NAMESPACE",
            C::Status { .. } => "STATUS",
            C::Append { .. } => "APPEND",
            C::Idle => "IDLE",
            C::GetQuota(_) => "GETQUOTA",
            C::GetQuotaRoot(_) => "GETQUOTAROOT",
            C::SetQuota { .. } => "SETQUOTA",
            C::Check => "CHECK",
            C::Close => "CLOSE",
            C::Unselect => "UNSELECT",
            C::Expunge => "EXPUNGE",
            C::UidExpunge(_) => "UID EXPUNGE",
            C::Search(s) if s.uid => "UID SEARCH",
            C::Search(_) => "SEARCH",
            C::Fetch(f) if f.uid => "UID FETCH",
            C::Fetch(_) => "FETCH",
            C::Store(s) if s.uid => "UID STORE",
            C::Store(_) => "STORE",
            C::Copy { uid: true, .. } => "UID COPY",
            C::Copy { .. } => "COPY",
            C::Move { uid: true, .. } => "UID MOVE",
            C::Move { .. } => "MOVE",
        }
    }
}

/// ID's field names and values (NIL is `None`), as sent.
pub type IdFields = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A password or SASL response: its `Debug` never shows the bytes, so a logged
/// command cannot leak a credential.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Vec<u8>);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// A mailbox name as the client sent it (`mailbox` in RFC 3501: an astring), with
/// `INBOX` in any case folded to `INBOX`, the one case-insensitive name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(Vec<u8>);

impl Mailbox {
    pub fn from_wire(raw: Vec<u8>) -> Mailbox {
        if raw.eq_ignore_ascii_case(b"INBOX") {
            Mailbox(b"INBOX".to_vec())
        } else {
            Mailbox(raw)
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == b"INBOX"
    }

    /// The name as text, decoded by the UTF8=ACCEPT rule
    /// ([`utf7::mailbox_from_wire`]).
    pub fn decode(&self, utf8_accept: bool) -> Result<String, Utf7Error> {
        utf7::mailbox_from_wire(&self.0, utf8_accept)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// SELECT and EXAMINE parameters (RFC 4466 `select-params`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `(CONDSTORE)` (RFC 7162 section 3.1.8).
    pub condstore: bool,
    /// `(QRESYNC (...))` (RFC 7162 section 3.2.5); implies CONDSTORE.
    pub qresync: Option<QResync>,
}

/// What a QRESYNC client knows of the mailbox from its last session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    /// UIDs the client knows (no `*`).
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`: message numbers and their UIDs, for
    /// the server to find where the client's view diverges.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST, basic or extended (RFC 5258, with RFC 5819 STATUS and RFC 6154 SPECIAL-USE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    pub select: ListSelect,
    pub reference: Vec<u8>,
    /// `list-mailbox` patterns, raw (wildcards `*` and `%` included); one unless
    /// the client gave a parenthesised list.
    pub patterns: Vec<Vec<u8>>,
    pub returns: ListReturn,
    /// Selection options, several patterns or RETURN were given: RFC 5258 makes
    /// some replies depend on it (e.g. `\NonExistent`, CHILDINFO).
    pub extended: bool,
}

/// LIST selection options (RFC 5258 section 3.1, RFC 6154 section 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListSelect {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST return options (RFC 5258 section 3.2, RFC 5819, RFC 6154).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    /// `STATUS (...)`: a STATUS reply for every selectable mailbox listed.
    pub status: Option<Vec<StatusItem>>,
}

/// A STATUS data item (RFC 3501 section 6.3.10, HIGHESTMODSEQ from RFC 7162).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    HighestModSeq,
}

impl StatusItem {
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }
}

/// A message flag. System flags are matched case-insensitively; keywords keep the
/// client's spelling.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `flag-keyword`, e.g. `$Forwarded`.
    Keyword(String),
    /// `flag-extension`: a backslash flag that is not a system flag (e.g.
    /// `\Recent`, which clients may not set), without its backslash.
    Extension(String),
}

/// A calendar date (`date` in SEARCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Days since 1970-01-01 (negative before): the proleptic Gregorian calendar.
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

/// APPEND's `date-time`: a local time and its zone offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// East of UTC, in minutes (`-0500` is -300).
    pub zone_minutes: i16,
}

impl DateTime {
    /// Seconds since the Unix epoch, UTC.
    pub fn unix_seconds(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }
}

/// A `sequence-set` of message numbers or UIDs (which, the command says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<SeqItem>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqItem {
    /// Inclusive, in either order as the client wrote it; `n` alone is `n:n`.
    Range(SeqNum, SeqNum),
    /// `$` (SEARCHRES, RFC 5182): the result the last `SEARCH RETURN (SAVE)` saved.
    Saved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    /// `*`: the largest number in use (or the largest UID) in the mailbox.
    Star,
}

impl SequenceSet {
    /// The ranges, lowest first within each, with `*` resolved to `largest`;
    /// `$` items are left out (see [`SequenceSet::uses_saved`]).
    pub fn ranges(&self, largest: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.0.iter().filter_map(move |item| match *item {
            SeqItem::Range(a, b) => {
                let v = |n| match n {
                    SeqNum::Value(v) => v,
                    SeqNum::Star => largest,
                };
                let (a, b) = (v(a), v(b));
                Some((a.min(b), a.max(b)))
            }
            SeqItem::Saved => None,
        })
    }

    /// Whether `n` is in the set, `*` standing for `largest`; `$` never matches here.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.ranges(largest).any(|(lo, hi)| (lo..=hi).contains(&n))
    }

    /// Whether the set refers to the saved search result, which the session must
    /// substitute (and answer BAD when nothing was saved).
    pub fn uses_saved(&self) -> bool {
        self.0.contains(&SeqItem::Saved)
    }
}

/// SEARCH and UID SEARCH, with ESEARCH return options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub uid: bool,
    /// `None`: a classic `* SEARCH` reply; `Some`: an `* ESEARCH` reply (RFC 4731)
    /// with these items. An empty `RETURN ()` is given as `[All]`, its meaning.
    pub returns: Option<Vec<SearchReturn>>,
    /// `None`: no CHARSET given (US-ASCII, or UTF-8 under UTF8=ACCEPT).
    pub charset: Option<Charset>,
    /// The criteria, all of which must match (a non-empty list).
    pub keys: Vec<SearchKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    /// RFC 5182: keep the result for `$`.
    Save,
}

/// A SEARCH CHARSET. The server searches in US-ASCII and UTF-8; any other is kept
/// so the session can answer `NO [BADCHARSET (US-ASCII UTF-8)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charset {
    UsAscii,
    Utf8,
    /// Uppercased as sent.
    Other(String),
}

/// A search key (RFC 3501 section 6.4.4, MODSEQ from RFC 7162). Strings are the
/// client's bytes in the command's charset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Keyword(String),
    Unkeyword(String),
    Bcc(Vec<u8>),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    From(Vec<u8>),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    /// Field name, then the value to find in it (empty: the field is present).
    Header(Vec<u8>, Vec<u8>),
    /// Internal date before, on, or since (on or after) the day.
    Before(Date),
    On(Date),
    Since(Date),
    /// The Date: header's day, before, on, or on or after.
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u32),
    Smaller(u32),
    Uid(SequenceSet),
    /// Message numbers.
    Seq(SequenceSet),
    Not(Box<SearchKey>),
    /// Any of the keys. The chain `OR a OR b c` is one `Or([a, b, c])`, so the long
    /// OR chains clients build cost one level of nesting, not one per term.
    Or(Vec<SearchKey>),
    /// A parenthesised list: all of the keys.
    And(Vec<SearchKey>),
    /// RFC 7162: messages whose mod-sequence is at least `modseq`. The optional
    /// entry (`"/flags/\\seen" all`) narrows it to one flag's changes; a server that
    /// keeps one mod-sequence per message may ignore it.
    ModSeq {
        entry: Option<(Vec<u8>, EntryType)>,
        modseq: u64,
    },
}

/// RFC 7162 `entry-type-req`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    Private,
    Shared,
    All,
}

/// FETCH and UID FETCH. Macros (ALL, FAST, FULL) arrive expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub uid: bool,
    pub set: SequenceSet,
    pub items: Vec<FetchItem>,
    /// RFC 7162 `(CHANGEDSINCE n)`.
    pub changed_since: Option<u64>,
    /// RFC 7162 `(CHANGEDSINCE n VANISHED)`: only on UID FETCH, only with
    /// CHANGEDSINCE (the parser enforces both); the session must also check that
    /// QRESYNC is enabled.
    pub vanished: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    Envelope,
    Flags,
    InternalDate,
    /// `RFC822` is `BODY[]`, `RFC822.HEADER` is `BODY.PEEK[HEADER]` and
    /// `RFC822.TEXT` is `BODY[TEXT]`; they keep their own names in the reply.
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// BODY without a section: BODYSTRUCTURE without extension data.
    Body,
    BodyStructure,
    Uid,
    /// RFC 7162.
    ModSeq,
    /// `BODY[section]<partial>` and `BODY.PEEK[...]`.
    Section(BodySection),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodySection {
    /// BODY.PEEK: do not set \Seen.
    pub peek: bool,
    pub section: Section,
    /// `<offset.length>`.
    pub partial: Option<(u32, u32)>,
}

/// A `section-spec`: a part path (empty for the whole message) and what of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// Field names as sent (astrings); matching is case-insensitive.
    HeaderFields(Vec<Vec<u8>>),
    HeaderFieldsNot(Vec<Vec<u8>>),
    Text,
    /// Only after a part number.
    Mime,
}

/// STORE and UID STORE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub uid: bool,
    pub set: SequenceSet,
    /// RFC 7162 `(UNCHANGEDSINCE n)`.
    pub unchanged_since: Option<u64>,
    pub action: StoreAction,
    /// `.SILENT`: no untagged FETCH for the change.
    pub silent: bool,
    pub flags: Vec<Flag>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreAction {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_sets_resolve_star_and_either_order() {
        let s = SequenceSet(vec![
            SeqItem::Range(SeqNum::Value(5), SeqNum::Value(2)),
            SeqItem::Range(SeqNum::Value(9), SeqNum::Star),
            SeqItem::Saved,
        ]);
        let got: Vec<u32> = (1..=12).filter(|&n| s.contains(n, 10)).collect();
        assert_eq!(got, [2, 3, 4, 5, 9, 10]);
        assert_eq!(s.ranges(10).collect::<Vec<_>>(), [(2, 5), (9, 10)]);
        // `12:*` with 10 messages is 10:12 (RFC 3501: the range in either order).
        let star = SequenceSet(vec![SeqItem::Range(SeqNum::Value(12), SeqNum::Star)]);
        assert!(star.contains(10, 10) && !star.contains(9, 10));
        assert!(s.uses_saved() && !star.uses_saved());
    }

    #[test]
    fn dates_count_days_and_zones() {
        let d = |year, month, day| Date { year, month, day };
        assert_eq!(d(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(d(2000, 3, 1).days_since_epoch(), 11_017);
        assert_eq!(d(1969, 12, 31).days_since_epoch(), -1);
        let t = DateTime {
            date: d(2024, 2, 29),
            hour: 12,
            minute: 30,
            second: 5,
            zone_minutes: -300,
        };
        assert_eq!(t.unix_seconds(), 1_709_227_805);
    }

    #[test]
    fn secrets_and_inbox() {
        assert_eq!(
            format!("{:?}", Secret(b"hunter2".to_vec())),
            "Secret(7 bytes)"
        );
        assert!(Mailbox::from_wire(b"iNbOx".to_vec()).is_inbox());
        assert_eq!(
            Mailbox::from_wire(b"INBOX/x".to_vec()).as_bytes(),
            b"INBOX/x"
        );
    }
}
