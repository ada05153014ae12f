//! DynamoDB's JSON wire shapes and their conversion to the typed values below `api`.

pub mod attribute_value;
pub mod item_json;
