//! Keys of the `meta` column family.
//!
//! Per-group records start with `g | group u64`, so that all of a table's groups
//! (`group = table_id << 16 | partition`) form one contiguous range to delete.

pub const TABLE_PREFIX: &[u8] = b"t/";
pub const NEXT_TABLE_ID: &[u8] = b"next_table_id";

/// The metadata records the metadata group replicates (the catalog): table
/// descriptors, the next table id, deleted tables, the streams of deleted tables, the
/// node registry, the cluster's settings, and the cluster-wide claims of
/// ClientRequestTokens. Every other record of `meta` is this node's own.
pub const REPLICATED_PREFIXES: [&[u8]; 7] = [
    TABLE_PREFIX,
    NEXT_TABLE_ID,
    DELETED_TABLE_PREFIX,
    RETIRED_STREAMS_PREFIX,
    MEMBER_PREFIX,
    CLUSTER_SETTINGS,
    CLIENT_CLAIM_PREFIX,
];

/// Whether `key` is a metadata record the metadata group replicates.
pub fn is_replicated(key: &[u8]) -> bool {
    REPLICATED_PREFIXES
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// `t/<region>/<name>`: neither a region nor a table name holds a '/'. (Descriptors
/// written before regions existed were keyed `t/<name>`.)
pub fn table(region: &str, name: &str) -> Vec<u8> {
    let mut key = TABLE_PREFIX.to_vec();
    key.extend_from_slice(region.as_bytes());
    key.push(b'/');
    key.extend_from_slice(name.as_bytes());
    key
}

/// What a group keeps in `meta`.
#[derive(Clone, Copy)]
pub enum GroupRecord {
    Vote = 1,
    Committed = 2,
    Purged = 3,
    Applied = 4,
    Stats = 5,
    Snapshot = 6,
    /// The write schema the group's state machine has applied.
    Schema = 7,
}

pub fn group(group: u64, record: GroupRecord) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[0] = b'g';
    key[1..9].copy_from_slice(&group.to_be_bytes());
    key[9] = record as u8;
    key
}

/// `[start, end)` of the meta records of every group of a table.
pub fn table_groups_range(table_id: u32) -> ([u8; 9], [u8; 9]) {
    let bound = |id: u64| {
        let mut key = [0u8; 9];
        key[0] = b'g';
        key[1..].copy_from_slice(&(id << 16).to_be_bytes());
        key
    };
    (bound(u64::from(table_id)), bound(u64::from(table_id) + 1))
}

/// Completed transactions' ClientRequestToken records (kept ten minutes by `api`).
pub const CLIENT_TOKEN_PREFIX: &[u8] = b"x/";

pub fn client_token(token: &str) -> Vec<u8> {
    let mut key = CLIENT_TOKEN_PREFIX.to_vec();
    key.extend_from_slice(token.as_bytes());
    key
}

/// Cluster-wide claims of ClientRequestTokens (`client_tokens`).
pub const CLIENT_CLAIM_PREFIX: &[u8] = b"c/";

pub fn client_claim(token: &str) -> Vec<u8> {
    [CLIENT_CLAIM_PREFIX, token.as_bytes()].concat()
}

/// Deleted tables, for good (table ids are never reused): each node removes what it
/// holds of them (`table_removal`).
pub const DELETED_TABLE_PREFIX: &[u8] = b"d/";

pub fn deleted_table(table_id: u32) -> Vec<u8> {
    per_table(DELETED_TABLE_PREFIX, table_id)
}

/// The streams of deleted tables, readable until their records age out.
pub const RETIRED_STREAMS_PREFIX: &[u8] = b"r/";

pub fn retired_streams(table_id: u32) -> Vec<u8> {
    per_table(RETIRED_STREAMS_PREFIX, table_id)
}

/// The key layout the data directory's items are in (see `key_layout`).
pub const KEY_LAYOUT: &[u8] = b"key_layout";

/// Tables whose items an interrupted key-layout upgrade already moved.
pub const UPGRADED_TABLE_PREFIX: &[u8] = b"u/";

pub fn upgraded_table(table_id: u32) -> Vec<u8> {
    per_table(UPGRADED_TABLE_PREFIX, table_id)
}

/// How many key ranges (DynamoDB partitions) a table's traffic split its capacity into.
pub const KEY_RANGES_PREFIX: &[u8] = b"k/";

pub fn key_ranges(table_id: u32) -> Vec<u8> {
    per_table(KEY_RANGES_PREFIX, table_id)
}

/// A per-table record's key: its prefix, then the table id.
fn per_table(prefix: &[u8], table_id: u32) -> Vec<u8> {
    [prefix, &table_id.to_be_bytes()].concat()
}

/// The cluster and node this data directory belongs to (cluster members only).
pub const NODE_IDENTITY: &[u8] = b"node_identity";

/// The cluster's settings, fixed when it forms (`cirrus-cluster`'s member registry).
pub const CLUSTER_SETTINGS: &[u8] = b"s/cluster";

/// The node registry: each cluster member's addresses and state (`cirrus-cluster`'s member registry).
pub const MEMBER_PREFIX: &[u8] = b"n/";

pub fn member(node_id: u64) -> Vec<u8> {
    [MEMBER_PREFIX, &node_id.to_be_bytes()].concat()
}
