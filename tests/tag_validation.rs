//! Tag validation, every limit at its boundary: key and value lengths, the characters
//! tags may hold, the `aws:` namespace, 50 tags per table, and the ARNs a caller may
//! not tag (malformed ones, and tables of another account or region:
//! AccessDeniedException). Orders and texts from dynalite's tests (checked against
//! DynamoDB) and DynamoDB's "Tagging restrictions"; where DynamoDB's exact text is not
//! known, the test pins Cirrus's and the report says so. Also: concurrent tag changes
//! on one table each keep the other's (ScyllaDB's test_concurrent_tag, run against
//! DynamoDB).

mod common;

use aws_sdk_dynamodb::types::{ScalarAttributeType, Tag};
use common::*;
use serde_json::json;

const ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/tagged";

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("a tag")
}

fn tags(from: usize, to: usize) -> Vec<Tag> {
    (from..to).map(|i| tag(&format!("k{i}"), "v")).collect()
}

#[tokio::test]
async fn tag_limits_at_their_boundaries() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "tagged", ("pk", ScalarAttributeType::S), None).await;
    let tag_resource = |tags: Vec<Tag>| {
        client
            .tag_resource()
            .resource_arn(ARN)
            .set_tags(Some(tags))
            .send()
    };
    let mut f = Failures::new();
    for (what, tags) in [
        ("a 128-character key", vec![tag(&"k".repeat(128), "v")]),
        ("a 256-character value", vec![tag("long", &"v".repeat(256))]),
        ("an empty value", vec![tag("empty", "")]),
        (
            "every allowed character",
            vec![tag("a Z 9 é + - = . _ : /", "ü 0 + - = . _ : /")],
        ),
    ] {
        if let Err(e) = tag_resource(tags).await {
            f.push(format!("{what}: {e:?}"));
        }
    }
    for (what, tags, message) in [
        (
            "a 129-character key",
            vec![tag(&"k".repeat(129), "v")],
            "at 'tags.1.member.key' failed to satisfy constraint: Member must have length \
             less than or equal to 128",
        ),
        (
            "a 257-character value",
            vec![tag("k", &"v".repeat(257))],
            "at 'tags.1.member.value' failed to satisfy constraint: Member must have length \
             less than or equal to 256",
        ),
        (
            "an empty key",
            vec![tag("", "v")],
            "at 'tags.1.member.key' failed to satisfy constraint: Member must have length \
             greater than or equal to 1",
        ),
        (
            "a key with a '#'",
            vec![tag("a#b", "v")],
            "One or more parameter values were invalid: The tag a#b=v has characters that \
             are not allowed",
        ),
        (
            "a value with a '@'",
            vec![tag("k", "a@b")],
            "One or more parameter values were invalid: The tag k=a@b has characters that \
             are not allowed",
        ),
        (
            "a key in the aws: namespace",
            vec![tag("aws:cost", "v")],
            "One or more parameter values were invalid: The tag key aws:cost is in the aws: \
             namespace",
        ),
    ] {
        f.check(check_err(
            what,
            tag_resource(tags).await,
            "ValidationException",
            Some(message),
        ));
    }
    // 50 tags in all, counting those the table has: 4 so far.
    if let Err(e) = tag_resource(tags(0, 46)).await {
        f.push(format!("the 50th tag: {e:?}"));
    }
    f.check(check_err(
        "a 51st tag",
        tag_resource(tags(46, 47)).await,
        "ValidationException",
        Some("One or more parameter values were invalid: Too many tags: tag limit is 50"),
    ));
    // Replacing a value adds no tag.
    if let Err(e) = tag_resource(vec![tag("k0", "new")]).await {
        f.push(format!("replacing a value at 50 tags: {e:?}"));
    }
    let listed = client
        .list_tags_of_resource()
        .resource_arn(ARN)
        .send()
        .await
        .expect("ListTagsOfResource");
    if listed.tags().len() != 50 {
        f.push(format!("{} tags listed, 50 expected", listed.tags().len()));
    }
    f.check(check_err(
        "CreateTable with 51 tags",
        client
            .create_table()
            .table_name("overtagged")
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .key_schema(key("pk", aws_sdk_dynamodb::types::KeyType::Hash))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .set_tags(Some(tags(0, 51)))
            .send()
            .await,
        "ValidationException",
        Some("Too many tags: tag limit is 50"),
    ));
    f.assert_none();
}

#[tokio::test]
async fn arns_a_caller_may_not_tag() {
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "tagged", ("pk", ScalarAttributeType::S), None).await;
    let denied = |operation: &str, arn: &str| {
        format!(
            "User: arn:aws:iam::000000000000:root is not authorized to perform: \
             dynamodb:{operation} on resource: {arn}"
        )
    };
    let mut f = Failures::new();
    for arn in [
        "arn:aws:dynamodb:eu-west-1:000000000000:table/tagged",
        "arn:aws:dynamodb:us-east-1:111111111111:table/tagged",
    ] {
        f.check(check_err(
            &format!("TagResource {arn}"),
            client
                .tag_resource()
                .resource_arn(arn)
                .tags(tag("k", "v"))
                .send()
                .await,
            "AccessDeniedException",
            Some(&denied("TagResource", arn)),
        ));
        f.check(check_err(
            &format!("UntagResource {arn}"),
            client
                .untag_resource()
                .resource_arn(arn)
                .tag_keys("k")
                .send()
                .await,
            "AccessDeniedException",
            Some(&denied("UntagResource", arn)),
        ));
        f.check(check_err(
            &format!("ListTagsOfResource {arn}"),
            client
                .list_tags_of_resource()
                .resource_arn(arn)
                .send()
                .await,
            "AccessDeniedException",
            Some(&denied("ListTagsOfResource", arn)),
        ));
    }
    f.assert_none();

    // The SDK refuses to send what DynamoDB's own validation answers: raw requests.
    let tag_resource = "DynamoDB_20120810.TagResource";
    for (what, body, message) in [
        ("no ARN", json!({"Tags": []}), "Invalid TableArn"),
        (
            "not an ARN",
            json!({"ResourceArn": "tagged", "Tags": [{"Key": "k", "Value": "v"}]}),
            "ARNs must start with 'arn:': tagged",
        ),
        (
            "no Tags",
            json!({"ResourceArn": ARN}),
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: \
             Member must not be null",
        ),
        (
            "the ARN of another service",
            json!({"ResourceArn": "arn:aws:s3:::bucket/key", "Tags": []}),
            "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:s3:::bucket/key",
        ),
        (
            "no tags",
            json!({"ResourceArn": ARN, "Tags": []}),
            "Atleast one Tag needs to be provided as Input.",
        ),
    ] {
        let r = server.raw_request(tag_resource, &body.to_string());
        assert_eq!(
            (
                r.status,
                r.error_type().as_deref(),
                r.error_message().as_deref()
            ),
            (
                400,
                Some("com.amazon.coral.validate#ValidationException"),
                Some(message)
            ),
            "{what}"
        );
    }
    let r = server.raw_request(
        "DynamoDB_20120810.UntagResource",
        &json!({"ResourceArn": ARN, "TagKeys": []}).to_string(),
    );
    assert_eq!(
        r.error_message().as_deref(),
        Some("Atleast one Tag Key needs to be provided as Input.")
    );
    let missing = "arn:aws:dynamodb:us-east-1:000000000000:table/missing";
    let r = server.raw_request(
        tag_resource,
        &json!({"ResourceArn": missing, "Tags": [{"Key": "k", "Value": "v"}]}).to_string(),
    );
    assert_eq!(
        r.error_message(),
        Some(format!(
            "Requested resource not found: ResourcArn: {missing} not found"
        ))
    );
}

/// Each task adds and removes its own tag, over and over, while the others do the same
/// on the same table: no change may be lost to a concurrent one (an untagged key still
/// listed, or a new tag missing).
#[tokio::test]
async fn concurrent_tag_changes_keep_each_other() {
    const TASKS: usize = 6;
    const ROUNDS: usize = 40;
    let server = TestServer::start();
    let client = server.client();
    create_table(&client, "tagged", ("pk", ScalarAttributeType::S), None).await;
    let listed = |client: aws_sdk_dynamodb::Client, key: String| async move {
        let tags = client
            .list_tags_of_resource()
            .resource_arn(ARN)
            .send()
            .await
            .expect("ListTagsOfResource");
        tags.tags().iter().any(|t| t.key() == key)
    };
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                let key = format!("task{task}");
                let mut lost = Vec::new();
                for round in 0..ROUNDS {
                    client
                        .tag_resource()
                        .resource_arn(ARN)
                        .tags(tag(&key, "v"))
                        .send()
                        .await
                        .expect("TagResource");
                    if !listed(client.clone(), key.clone()).await {
                        lost.push(format!(
                            "{key} round {round}: tag missing after TagResource"
                        ));
                    }
                    client
                        .untag_resource()
                        .resource_arn(ARN)
                        .tag_keys(&key)
                        .send()
                        .await
                        .expect("UntagResource");
                    if listed(client.clone(), key.clone()).await {
                        lost.push(format!(
                            "{key} round {round}: tag listed after UntagResource"
                        ));
                    }
                }
                lost
            })
        })
        .collect();
    let mut f = Failures::new();
    for task in tasks {
        for lost in task.await.expect("a tagging task") {
            f.push(lost);
        }
    }
    f.assert_none();
}
