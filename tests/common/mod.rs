//! Black-box test harness: runs the real `cirrus serve` binary as a child process on a
//! free loopback port with a temporary data directory, and talks to it with the real
//! `aws-sdk-dynamodb` client (or, for what the SDK cannot express, raw HTTP/1.1).
//!
//! Every wait here is bounded; every server is killed when its `TestServer` drops.

#![allow(dead_code)]

pub mod cluster;
mod codings;
mod data;
mod indexes;
mod raw_http;
mod sdk;
mod server;
pub mod stored;
mod streams;

// Each test binary uses some of these helpers, never all of them.
#[allow(unused_imports)]
pub use codings::*;
pub use data::*;
pub use indexes::*;
pub use raw_http::*;
pub use sdk::*;
pub use server::*;
pub use streams::*;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
