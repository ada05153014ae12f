//! Failures of the storage layer.

/// Something went wrong below the data model: RocksDB itself, or bytes on disk that
/// do not decode.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}
