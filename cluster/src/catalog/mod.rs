//! The catalog across the cluster: the metadata group that replicates it (and the
//! members), every node following its changes, the catalog's background jobs run by
//! the metadata group's leader (index builds and drops, expiry-index builds, table
//! removal), TTL settings, and the records that keep a deleted table's streams.

pub(crate) mod follower;
pub(crate) mod index_jobs;
pub(crate) mod metadata_group;
pub(crate) mod retired_streams;
pub(crate) mod table_jobs;
pub(crate) mod time_to_live;
