//! How streams and shards are named: labels (ISO 8601 timestamps), ARNs, shard ids.

use cirrus_partition::StreamDescriptor;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// DynamoDB's StreamLabel: the creation time, `YYYY-MM-DDThh:mm:ss.sss`.
pub fn label(created_at_seconds: f64) -> String {
    let millis = (created_at_seconds * 1000.0) as i64;
    let (days, of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

pub fn stream_arn(table_arn: &str, label: &str) -> String {
    format!("{table_arn}/stream/{label}")
}

/// The table name and label of a stream ARN
/// (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`).
pub fn parse_stream_arn(arn: &str) -> Option<(&str, &str)> {
    let resource = arn
        .strip_prefix("arn:aws:dynamodb:")?
        .splitn(3, ':')
        .nth(2)?;
    let rest = resource.strip_prefix("table/")?;
    let (table, label) = rest.split_once("/stream/")?;
    (!table.is_empty() && !label.is_empty()).then_some((table, label))
}

/// A shard's id: the stream's creation time and the partition.
pub fn shard_id(stream: &StreamDescriptor, partition: u16) -> String {
    format!(
        "shardId-{:020}-{partition:08x}",
        (stream.created_at * 1000.0) as u64
    )
}

/// The partition of a shard id of `stream`.
pub fn parse_shard_id(stream: &StreamDescriptor, shard_id: &str) -> Option<u16> {
    let rest = shard_id.strip_prefix(&format!(
        "shardId-{:020}-",
        (stream.created_at * 1000.0) as u64
    ))?;
    (rest.len() == 8).then_some(())?;
    u16::from_str_radix(rest, 16).ok()
}

/// A sequence number as DynamoDB shows it: a decimal string that sorts like the number.
pub fn sequence_number(sequence: u64) -> String {
    format!("{sequence:021}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_utc_timestamps() {
        assert_eq!(label(0.0), "1970-01-01T00:00:00.000");
        assert_eq!(label(1_795_438_800.25), "2026-11-23T13:00:00.250");
        assert_eq!(label(951_782_400.0), "2000-02-29T00:00:00.000");
    }

    #[test]
    fn arns_round_trip() {
        let arn = stream_arn(
            "arn:aws:dynamodb:us-east-1:000000000000:table/t.1",
            "2026-11-23T10:20:00.250",
        );
        assert_eq!(
            parse_stream_arn(&arn),
            Some(("t.1", "2026-11-23T10:20:00.250"))
        );
        assert_eq!(
            parse_stream_arn("arn:aws:dynamodb:us-east-1:0:table/t"),
            None
        );
    }
}
