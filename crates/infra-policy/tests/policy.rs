//! Architecture policies for deploy/terraform, checked offline with hcl-rs.
//!
//! Each test runs one policy on the real configuration, where it must pass,
//! and on mutated copies (the `&[...]` lists: a file, the text to find, its
//! replacement), where it must fail. A policy that a mutation does not break
//! would be checking nothing, and the test says so.

mod common;

use common::*;
use hcl::Expression;

const ROOT_SGS: [&str; 4] = ["alb", "app", "db", "efs"];

/// IAM actions without resource-level permissions: "*" is the only resource
/// they accept (the SSM agent's message channels and State Manager calls).
const NO_RESOURCE_LEVEL: [&str; 18] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssm:ListAssociations",
    "ssm:ListInstanceAssociations",
    "ssm:DescribeAssociation",
    "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus",
    "ssm:PutComplianceItems",
    "ssm:PutConfigurePackageResult",
    "ssm:GetManifest",
];

fn sg_ref(name: &str) -> String {
    format!("aws_security_group.{name}.id")
}

fn port_range(m: &Module, body: &hcl::Body) -> (Option<f64>, Option<f64>) {
    (
        attr(body, "from_port").and_then(|e| m.number(e)),
        attr(body, "to_port").and_then(|e| m.number(e)),
    )
}

// ------------------------------------------------------------- network ---

fn three_zones(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    v.check(m.datas("aws_availability_zones").len() == 1, || {
        "one data.aws_availability_zones source".into()
    });
    let azs = m.local("azs").map(|e| show(&e)).unwrap_or_default();
    v.check(
        azs == "slice(data.aws_availability_zones.available.names, 0, 3)",
        || format!("local.azs must be the first three zones of the region, is `{azs}`"),
    );
    for tier in ["public", "private_app", "private_data"] {
        match m.resource("aws_subnet", tier) {
            None => v.push(format!("aws_subnet.{tier} missing")),
            Some(s) => {
                let count = attr(s.body(), "count").and_then(|e| m.number(e));
                v.check(count == Some(3.0), || {
                    format!("aws_subnet.{tier}: count must be 3, is {count:?}")
                });
                let az = attr_text(s.body(), "availability_zone");
                v.check(az == "local.azs[count.index]", || {
                    format!("aws_subnet.{tier}: one subnet per zone (availability_zone = {az})")
                });
            }
        }
    }
    let mt = m.resource("aws_efs_mount_target", "shared");
    v.check(
        mt.is_some_and(|i| {
            attr(i.body(), "count").and_then(|e| m.number(e)) == Some(3.0)
                && attr_text(i.body(), "subnet_id").contains("aws_subnet.private_data")
        }),
        || "EFS needs a mount target in each zone's data subnet".into(),
    );
    let nat = m
        .resource("aws_nat_gateway", "this")
        .map(|i| attr_text(i.body(), "count"))
        .unwrap_or_default();
    v.check(nat == "var.single_nat_gateway ? 1 : 3", || {
        format!("NAT gateways: one per zone unless single_nat_gateway (count = {nat})")
    });
    v.check(
        m.resources("aws_flow_log")
            .iter()
            .any(|f| attr_str(f.body(), "traffic_type").as_deref() == Some("ALL")),
        || "VPC flow logs (traffic_type = ALL) missing".into(),
    );
    // No region is hard-coded: the default provider takes var.region, and
    // the only region literal is CloudFront's mandatory us-east-1.
    for p in m.items_of("provider") {
        let alias = attr_str(p.body(), "alias");
        let region = attr_text(p.body(), "region");
        if alias.is_none() {
            v.check(region == "var.region", || {
                format!("default aws provider region must be var.region, is `{region}`")
            });
        }
    }
    for (dir, module) in &tf.modules {
        for item in &module.items {
            let mut attrs = vec![];
            all_attributes(item.body(), &mut attrs);
            for (key, e) in attrs {
                if key == "description" || key == "error_message" {
                    continue;
                }
                let text = show(e);
                for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                    if looks_like_region(tok) && tok != "us-east-1" {
                        v.push(format!(
                            "{dir}/{}: {}: hard-coded region {tok}",
                            item.file,
                            item.address()
                        ));
                    }
                }
            }
        }
    }
    v.outcome()
}

fn looks_like_region(tok: &str) -> bool {
    let parts: Vec<&str> = tok.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts.last().unwrap().chars().all(|c| c.is_ascii_digit())
        && [
            "east",
            "west",
            "north",
            "south",
            "central",
            "northeast",
            "southeast",
            "northwest",
            "southwest",
        ]
        .contains(&parts[parts.len() - 2])
}

#[test]
fn vpc_spans_three_zones_of_any_region() {
    assert_policy(
        three_zones,
        &[
            &[(
                "main.tf",
                "available.names, 0, 3)",
                "available.names, 0, 2)",
            )],
            &[(
                "network.tf",
                "resource \"aws_subnet\" \"private_data\" { count = 3",
                "resource \"aws_subnet\" \"private_data\" { count = 2",
            )],
            &[(
                "versions.tf",
                "region = var.region",
                "region = \"eu-west-1\"",
            )],
            &[(
                "network.tf",
                "traffic_type = \"ALL\"",
                "traffic_type = \"REJECT\"",
            )],
        ],
    );
}

// ------------------------------------------------------ security groups ---

fn ingress_rules(m: &Module) -> Vec<&Item> {
    m.resources("aws_vpc_security_group_ingress_rule")
}

fn tiered_security_groups(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    for name in ROOT_SGS {
        match m.resource("aws_security_group", name) {
            None => v.push(format!("aws_security_group.{name} missing")),
            Some(sg) => {
                v.check(
                    attr_str(sg.body(), "description").is_some_and(|d| d.len() > 10),
                    || format!("aws_security_group.{name} needs a description"),
                );
                v.check(blocks(sg.body(), "ingress").is_empty() && blocks(sg.body(), "egress").is_empty(),
                    || format!("aws_security_group.{name}: rules must be separate, described resources"));
            }
        }
    }
    v.check(m.resources("aws_security_group_rule").is_empty(), || {
        "use aws_vpc_security_group_*_rule resources only".into()
    });
    let mut chain = vec![];
    for r in ingress_rules(m)
        .into_iter()
        .chain(m.resources("aws_vpc_security_group_egress_rule"))
    {
        let b = r.body();
        v.check(
            attr_str(b, "description").is_some_and(|d| d.len() > 5),
            || format!("{} needs a description", r.address()),
        );
        if r.label(0).ends_with("ingress_rule") {
            let target = attr_text(b, "security_group_id");
            let source = attr_text(b, "referenced_security_group_id");
            let open = ["cidr_ipv4", "cidr_ipv6", "prefix_list_id"]
                .iter()
                .any(|k| attr(b, k).is_some());
            if target != sg_ref("alb") {
                v.check(!source.is_empty() && !open, || {
                    format!("{}: only the ALB may take traffic from addresses; {target} must name a source security group", r.address())
                });
            }
            chain.push((target, source, attr_text(b, "from_port")));
        }
    }
    for (target, source, port) in [
        ("app", "alb", "var.app_port"),
        ("db", "app", "local.db_port"),
        ("efs", "app", "2049"),
    ] {
        v.check(chain.iter().any(|(t, s, p)| *t == sg_ref(target) && *s == sg_ref(source) && p == port), || {
            format!("missing tier link: {target} must accept {port} from the {source} security group")
        });
    }
    // The data tier accepts nothing but the app (and the optional bastion).
    for (t, s, _) in &chain {
        if *t == sg_ref("db") || *t == sg_ref("efs") {
            v.check(
                *s == sg_ref("app") || s.starts_with("aws_security_group.bastion"),
                || format!("{t} accepts traffic from {s}"),
            );
        }
    }
    v.outcome()
}

#[test]
fn security_groups_are_chained_tier_by_tier() {
    assert_policy(
        tiered_security_groups,
        &[
            &[("security_groups.tf",
               "description = \"Database port from the app servers\" ip_protocol = \"tcp\" from_port = local.db_port to_port = local.db_port referenced_security_group_id = aws_security_group.app.id",
               "description = \"Database port from the app servers\" ip_protocol = \"tcp\" from_port = local.db_port to_port = local.db_port cidr_ipv4 = \"10.0.0.0/8\"")],
            &[("security_groups.tf",
               "from_port = var.app_port to_port = var.app_port referenced_security_group_id = aws_security_group.alb.id",
               "from_port = var.app_port to_port = var.app_port referenced_security_group_id = aws_security_group.db.id")],
            &[("security_groups.tf", "description = \"NFS from the app servers\"", "description = \"\"")],
        ],
    );
}

fn only_alb_faces_the_internet(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let mut alb_ports = vec![];
    for r in ingress_rules(m) {
        let b = r.body();
        let open = ["cidr_ipv4", "cidr_ipv6", "prefix_list_id"]
            .iter()
            .any(|k| attr(b, k).is_some());
        if !open {
            continue;
        }
        let target = attr_text(b, "security_group_id");
        let (from, to) = port_range(m, b);
        v.check(target == sg_ref("alb"), || {
            format!("{}: address-based ingress on {target}", r.address())
        });
        v.check(
            from == to && matches!(from, Some(p) if p == 80.0 || p == 443.0),
            || {
                format!(
                    "{}: the ALB may only open 80 and 443, opens {from:?}-{to:?}",
                    r.address()
                )
            },
        );
        alb_ports.push(from);
    }
    v.check(
        alb_ports.contains(&Some(443.0)) && alb_ports.contains(&Some(80.0)),
        || "the ALB needs its 80 (redirect/trial) and 443 ingress".into(),
    );
    let cf = m.resource(
        "aws_vpc_security_group_ingress_rule",
        "alb_https_from_cloudfront",
    );
    v.check(
        cf.is_some_and(|r| {
            attr_text(r.body(), "prefix_list_id").contains("aws_ec2_managed_prefix_list.cloudfront")
        }),
        || "with a domain, HTTPS must come from CloudFront's origin-facing prefix list".into(),
    );
    let pl = m
        .data("aws_ec2_managed_prefix_list", "cloudfront")
        .and_then(|d| attr_str(d.body(), "name"));
    v.check(
        pl.as_deref() == Some("com.amazonaws.global.cloudfront.origin-facing"),
        || format!("CloudFront prefix list name is {pl:?}"),
    );
    v.outcome()
}

#[test]
fn only_the_load_balancer_is_open_to_the_internet_and_only_on_80_443() {
    assert_policy(
        only_alb_faces_the_internet,
        &[
            &[("security_groups.tf", "from_port = 80 to_port = 80 cidr_ipv4 = each.value", "from_port = 8080 to_port = 8080 cidr_ipv4 = each.value")],
            &[("security_groups.tf",
               "description = \"NFS from the app servers\" ip_protocol = \"tcp\" from_port = 2049 to_port = 2049 referenced_security_group_id = aws_security_group.app.id",
               "description = \"NFS from the app servers\" ip_protocol = \"tcp\" from_port = 2049 to_port = 2049 cidr_ipv4 = \"0.0.0.0/0\"")],
            &[("security_groups.tf", "prefix_list_id = data.aws_ec2_managed_prefix_list.cloudfront[0].id", "cidr_ipv4 = \"0.0.0.0/0\"")],
        ],
    );
}

fn no_ssh(tf: &Tf) -> Outcome {
    let mut v = Violations::new();
    for m in tf.modules.values() {
        for typ in [
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
            "aws_security_group_rule",
        ] {
            for r in m.resources(typ) {
                let b = r.body();
                let proto = attr(b, "ip_protocol")
                    .or_else(|| attr(b, "protocol"))
                    .and_then(|e| m.string(e))
                    .unwrap_or_default();
                v.check(proto != "-1" && proto != "all", || {
                    format!("{}: all-protocol rule", r.address())
                });
                let (from, to) = port_range(m, b);
                if let (Some(f), Some(t)) = (from, to) {
                    v.check(!(f <= 22.0 && 22.0 <= t), || {
                        format!("{}: port 22 is open ({f}-{t})", r.address())
                    });
                }
            }
        }
        for typ in ["aws_launch_template", "aws_instance"] {
            for r in m.resources(typ) {
                v.check(attr(r.body(), "key_name").is_none(), || {
                    format!("{}: no SSH key pairs (use SSM)", r.address())
                });
            }
        }
    }
    v.outcome()
}

#[test]
fn no_ssh_anywhere() {
    assert_policy(
        no_ssh,
        &[
            &[("security_groups.tf",
               "from_port = var.app_port to_port = var.app_port referenced_security_group_id = aws_security_group.alb.id",
               "from_port = 22 to_port = 22 referenced_security_group_id = aws_security_group.alb.id")],
            &[("bastion.tf", "from_port = 443 to_port = 443", "from_port = 1 to_port = 1024")],
            &[("app.tf", "ebs_optimized = true", "key_name = \"ops\"\n  ebs_optimized = true")],
        ],
    );
}

// --------------------------------------------------------------- data tier ---

fn database(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let Some(primary) = m.resource("aws_db_instance", "primary") else {
        return Err("aws_db_instance.primary missing".into());
    };
    let p = primary.body();
    let is_true = |b: &hcl::Body, k: &str| attr(b, k).and_then(|e| m.boolean(e)) == Some(true);
    v.check(
        matches!(attr(p, "multi_az"), Some(Expression::Bool(true))),
        || "the primary must be Multi-AZ (multi_az = true)".into(),
    );
    for k in [
        "storage_encrypted",
        "manage_master_user_password",
        "performance_insights_enabled",
        "iam_database_authentication_enabled",
        "auto_minor_version_upgrade",
    ] {
        v.check(is_true(p, k), || {
            format!("aws_db_instance.primary: {k} must be true")
        });
    }
    v.check(attr(p, "password").is_none(), || {
        "no master password in Terraform: RDS manages it".into()
    });
    v.check(attr_text(p, "kms_key_id").contains("aws_kms_key"), || {
        "primary storage must use the CMK".into()
    });
    v.check(
        attr_text(p, "master_user_secret_kms_key_id").contains("aws_kms_key"),
        || "master secret must use the CMK".into(),
    );
    v.check(
        attr_text(p, "performance_insights_kms_key_id").contains("aws_kms_key"),
        || "Performance Insights must use the CMK".into(),
    );
    v.check(
        attr(p, "backup_retention_period").and_then(|e| m.number(e)) == Some(14.0),
        || "14-day backups".into(),
    );
    v.check(
        attr_text(p, "deletion_protection") == "var.db_deletion_protection",
        || "deletion protection by variable".into(),
    );
    v.check(
        attr_text(p, "skip_final_snapshot") == "var.db_skip_final_snapshot"
            && attr(p, "final_snapshot_identifier").is_some(),
        || "final snapshot by variable".into(),
    );
    v.check(
        attr(p, "monitoring_interval")
            .and_then(|e| m.number(e))
            .unwrap_or(0.0)
            > 0.0
            && attr(p, "monitoring_role_arn").is_some(),
        || "enhanced monitoring".into(),
    );
    v.check(attr(p, "enabled_cloudwatch_logs_exports").is_some(), || {
        "log exports".into()
    });
    v.check(
        attr(p, "publicly_accessible").and_then(|e| m.boolean(e)) == Some(false),
        || "the database must not be public".into(),
    );
    match m.resource("aws_db_instance", "replica") {
        None => v.push("read replica missing".into()),
        Some(r) => {
            let b = r.body();
            v.check(
                attr_text(b, "replicate_source_db") == "aws_db_instance.primary.identifier",
                || "the replica must replicate the primary".into(),
            );
            v.check(
                is_true(b, "storage_encrypted")
                    && attr_text(b, "kms_key_id").contains("aws_kms_key"),
                || "the replica must be encrypted with the CMK".into(),
            );
            v.check(
                attr(b, "publicly_accessible").and_then(|e| m.boolean(e)) == Some(false),
                || "the replica must not be public".into(),
            );
        }
    }
    // TLS forced by the parameter group of each engine.
    let param = |res: &str, name: &str| {
        m.resource("aws_db_parameter_group", res).is_some_and(|g| {
            blocks(g.body(), "parameter").iter().any(|b| {
                attr_str(b.body(), "name").as_deref() == Some(name)
                    && attr_str(b.body(), "value").as_deref() == Some("1")
            })
        })
    };
    v.check(param("postgres", "rds.force_ssl"), || {
        "postgres parameter group must set rds.force_ssl = 1".into()
    });
    v.check(param("mysql", "require_secure_transport"), || {
        "mysql parameter group must set require_secure_transport = 1".into()
    });
    let engine = m
        .variable("db_engine")
        .map(show_validations)
        .unwrap_or_default();
    v.check(
        engine.contains("postgres") && engine.contains("mysql"),
        || "db_engine must be validated to postgres|mysql".into(),
    );
    v.outcome()
}

fn show_validations(item: &Item) -> String {
    blocks(item.body(), "validation")
        .iter()
        .map(|b| attr_text(b.body(), "condition"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn database_is_multi_az_with_a_read_replica_and_tls() {
    assert_policy(
        database,
        &[
            &[("database.tf", "multi_az = true", "multi_az = false")],
            &[(
                "database.tf",
                "replicate_source_db = aws_db_instance.primary.identifier",
                "",
            )],
            &[(
                "database.tf",
                "name = \"rds.force_ssl\" value = \"1\"",
                "name = \"rds.force_ssl\" value = \"0\"",
            )],
            &[(
                "database.tf",
                "manage_master_user_password = true",
                "manage_master_user_password = false",
            )],
            &[(
                "variables.tf",
                "type = number default = 14",
                "type = number default = 7",
            )],
        ],
    );
}

fn efs(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let ap = m.resource("aws_efs_access_point", "shared");
    match ap {
        None => v.push("EFS access point missing".into()),
        Some(a) => {
            let b = a.body();
            let user = block_path(b, &["posix_user"]);
            v.check(
                user.is_some_and(|u| {
                    attr_text(u, "uid") == "var.app_uid" && attr_text(u, "gid") == "var.app_uid"
                }),
                || "access point needs a fixed POSIX uid/gid".into(),
            );
            let root = block_path(b, &["root_directory"]);
            v.check(
                root.is_some_and(|r| {
                    attr_str(r, "path").is_some_and(|p| p.len() > 1)
                        && block_path(r, &["creation_info"]).is_some()
                }),
                || "access point needs a root directory with creation_info".into(),
            );
        }
    }
    let backup = m
        .resource("aws_efs_backup_policy", "shared")
        .and_then(|b| block_path(b.body(), &["backup_policy"]).and_then(|p| attr_str(p, "status")));
    v.check(backup.as_deref() == Some("ENABLED"), || {
        "EFS backups must be ENABLED".into()
    });
    v.outcome()
}

#[test]
fn efs_has_an_access_point_and_backups() {
    assert_policy(
        efs,
        &[
            &[("efs.tf", "status = \"ENABLED\"", "status = \"DISABLED\"")],
            &[("efs.tf", "posix_user {", "posix_user_removed {")],
            &[("efs.tf", "path = \"/newsread\"", "path = \"/\"")],
        ],
    );
}

// ------------------------------------------------------------------- app ---

fn imdsv2(tf: &Tf) -> Outcome {
    let mut v = Violations::new();
    let mut seen = 0;
    for m in tf.modules.values() {
        for typ in ["aws_launch_template", "aws_instance"] {
            for r in m.resources(typ) {
                seen += 1;
                let md = block_path(r.body(), &["metadata_options"]);
                let tokens = md.and_then(|b| attr_str(b, "http_tokens"));
                v.check(tokens.as_deref() == Some("required"), || {
                    format!(
                        "{}: IMDSv2 must be required (http_tokens = {tokens:?})",
                        r.address()
                    )
                });
                let hops = md
                    .and_then(|b| attr(b, "http_put_response_hop_limit"))
                    .and_then(|e| m.number(e));
                v.check(hops == Some(1.0), || {
                    format!("{}: IMDS hop limit must be 1", r.address())
                });
            }
        }
    }
    v.check(seen >= 1, || "no launch template found".into());
    v.outcome()
}

#[test]
fn imdsv2_is_required_on_every_instance() {
    assert_policy(
        imdsv2,
        &[
            &[(
                "app.tf",
                "http_tokens = \"required\"",
                "http_tokens = \"optional\"",
            )],
            &[(
                "bastion.tf",
                "http_tokens = \"required\"",
                "http_tokens = \"optional\"",
            )],
            &[("app.tf", "metadata_options {", "metadata_options_removed {")],
        ],
    );
}

fn encryption_everywhere(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let yes = |b: &hcl::Body, k: &str| attr(b, k).and_then(|e| m.boolean(e)) == Some(true);
    for lt in m.resources("aws_launch_template") {
        for bdm in blocks(lt.body(), "block_device_mappings") {
            let ok = block_path(bdm.body(), &["ebs"]).is_some_and(|e| yes(e, "encrypted"));
            v.check(ok, || {
                format!("{}: EBS volumes must be encrypted", lt.address())
            });
        }
        v.check(
            !blocks(lt.body(), "block_device_mappings").is_empty(),
            || format!("{}: declare the encrypted root volume", lt.address()),
        );
    }
    for i in m.resources("aws_instance") {
        v.check(
            block_path(i.body(), &["root_block_device"]).is_some_and(|b| yes(b, "encrypted")),
            || format!("{}: root volume must be encrypted", i.address()),
        );
    }
    for db in m.resources("aws_db_instance") {
        v.check(
            yes(db.body(), "storage_encrypted") && attr(db.body(), "kms_key_id").is_some(),
            || format!("{}: storage must be encrypted with the CMK", db.address()),
        );
    }
    for fs in m.resources("aws_efs_file_system") {
        v.check(
            yes(fs.body(), "encrypted") && attr(fs.body(), "kms_key_id").is_some(),
            || format!("{}: must be encrypted with the CMK", fs.address()),
        );
    }
    let sse: Vec<String> = m
        .resources("aws_s3_bucket_server_side_encryption_configuration")
        .iter()
        .filter(|c| {
            blocks(c.body(), "rule").iter().any(|r| {
                block_path(r.body(), &["apply_server_side_encryption_by_default"])
                    .is_some_and(|d| attr(d, "sse_algorithm").is_some())
            })
        })
        .map(|c| attr_text(c.body(), "bucket"))
        .collect();
    let buckets = m.resources("aws_s3_bucket");
    v.check(!buckets.is_empty(), || "no S3 bucket".into());
    for b in buckets {
        let want = format!("aws_s3_bucket.{}.id", b.label(1));
        let counted = format!("aws_s3_bucket.{}[0].id", b.label(1));
        v.check(sse.contains(&want) || sse.contains(&counted), || {
            format!("{}: default encryption missing", b.address())
        });
    }
    for o in m.resources("aws_s3_object") {
        v.check(attr(o.body(), "server_side_encryption").is_some(), || {
            format!("{}: objects must be encrypted", o.address())
        });
    }
    for mm in tf.modules.values() {
        for lg in mm.resources("aws_cloudwatch_log_group") {
            v.check(attr(lg.body(), "kms_key_id").is_some(), || {
                format!("{}: log group must be KMS-encrypted", lg.address())
            });
        }
    }
    for t in m.resources("aws_sns_topic") {
        v.check(attr(t.body(), "kms_master_key_id").is_some(), || {
            format!("{}: topic must be KMS-encrypted", t.address())
        });
    }
    for s in m.resources("aws_secretsmanager_secret") {
        v.check(attr(s.body(), "kms_key_id").is_some(), || {
            format!("{}: secret must use the CMK", s.address())
        });
    }
    for k in m.resources("aws_kms_key") {
        v.check(yes(k.body(), "enable_key_rotation"), || {
            format!("{}: key rotation must be on", k.address())
        });
    }
    v.outcome()
}

#[test]
fn every_storage_resource_is_encrypted() {
    assert_policy(
        encryption_everywhere,
        &[
            &[("app.tf", "encrypted = true", "encrypted = false")],
            &[("efs.tf", "encrypted = true", "encrypted = false")],
            &[("database.tf", "storage_encrypted = true kms_key_id = aws_kms_key.main.arn max_allocated_storage", "storage_encrypted = false kms_key_id = aws_kms_key.main.arn max_allocated_storage")],
            &[("monitoring.tf", "retention_in_days = var.log_retention_days kms_key_id = aws_kms_key.main.arn", "retention_in_days = var.log_retention_days")],
            &[("monitoring.tf", "kms_master_key_id = aws_kms_key.main.arn", "")],
            &[("s3.tf", "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"logs\" { bucket = aws_s3_bucket.logs.id",
               "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"logs\" { bucket = aws_s3_bucket.artifacts.id")],
            &[("secrets.tf", "kms_key_id = aws_kms_key.main.arn", "")],
            &[("bastion.tf", "encrypted = true", "encrypted = false")],
        ],
    );
}

fn ami_and_launch_template(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let ssm = m
        .data("aws_ssm_parameter", "ubuntu_ami")
        .map(|d| attr_text(d.body(), "name"))
        .unwrap_or_default();
    v.check(ssm.contains("/aws/service/canonical/ubuntu/server/24.04/stable/current/${local.ubuntu_arch}/hvm/ebs-gp3/ami-id"),
        || format!("the AMI must come from Canonical's Ubuntu 24.04 SSM parameter for the chosen architecture, is {ssm}"));
    let arch = m.local("ubuntu_arch").map(|e| show(&e)).unwrap_or_default();
    v.check(
        arch.contains("var.architecture") && arch.contains("arm64") && arch.contains("amd64"),
        || format!("architecture must select the AMI: {arch}"),
    );
    let types = m
        .local("app_instance_type")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(types.contains("var.architecture"), || {
        "architecture must select the default instance type".into()
    });
    let lt = m.resource("aws_launch_template", "app");
    v.check(
        lt.is_some_and(|l| attr_text(l.body(), "image_id") == "local.ami_id"),
        || "the launch template must use local.ami_id".into(),
    );
    v.check(
        lt.is_some_and(|l| block_path(l.body(), &["iam_instance_profile"]).is_some()),
        || "instance profile".into(),
    );
    v.check(
        lt.is_some_and(|l| {
            attr_text(l.body(), "user_data").contains("module.user_data.cloud_config")
        }),
        || "user data from the renderer module".into(),
    );
    v.outcome()
}

#[test]
fn launch_template_uses_ubuntu_2404_from_ssm_for_the_architecture() {
    assert_policy(
        ami_and_launch_template,
        &[
            &[(
                "main.tf",
                "ubuntu/server/24.04/stable",
                "ubuntu/server/22.04/stable",
            )],
            &[(
                "app.tf",
                "image_id = local.ami_id",
                "image_id = \"ami-0123456789abcdef0\"",
            )],
            &[(
                "main.tf",
                "ubuntu_arch = var.architecture == \"arm64\" ? \"arm64\" : \"amd64\"",
                "ubuntu_arch = \"amd64\"",
            )],
        ],
    );
}

fn asg(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let Some(g) = m.resource("aws_autoscaling_group", "app") else {
        return Err("aws_autoscaling_group.app missing".into());
    };
    let b = g.body();
    let n = |k: &str| attr(b, k).and_then(|e| m.number(e));
    v.check(
        n("min_size") == Some(2.0)
            && n("desired_capacity") == Some(4.0)
            && n("max_size") == Some(6.0),
        || {
            format!(
                "ASG must be min 2 / desired 4 / max 6, is {:?}/{:?}/{:?}",
                n("min_size"),
                n("desired_capacity"),
                n("max_size")
            )
        },
    );
    v.check(
        attr_str(b, "health_check_type").as_deref() == Some("EC2"),
        || "ASG must replace instances on EC2 (liveness) health, not on the ALB's readiness".into(),
    );
    v.check(
        attr_text(b, "vpc_zone_identifier") == "aws_subnet.private_app[*].id",
        || "ASG must span the private app subnets".into(),
    );
    v.check(
        attr_text(b, "target_group_arns").contains("aws_lb_target_group.app.arn"),
        || "ASG must register in the target group".into(),
    );
    let policies = m.resources("aws_autoscaling_policy");
    let tracking = |metric: &str| {
        policies.iter().find(|p| {
            attr_str(p.body(), "policy_type").as_deref() == Some("TargetTrackingScaling")
                && attr_text(p.body(), "autoscaling_group_name")
                    .contains("aws_autoscaling_group.app")
                && block_path(
                    p.body(),
                    &[
                        "target_tracking_configuration",
                        "predefined_metric_specification",
                    ],
                )
                .and_then(|s| attr_str(s, "predefined_metric_type"))
                .as_deref()
                    == Some(metric)
        })
    };
    let cpu = tracking("ASGAverageCPUUtilization");
    let cpu_target = cpu
        .and_then(|p| block_path(p.body(), &["target_tracking_configuration"]))
        .and_then(|t| attr(t, "target_value"))
        .and_then(|e| m.number(e));
    v.check(cpu_target == Some(50.0), || {
        format!("target tracking on CPU at 50% missing (target {cpu_target:?})")
    });
    let req = tracking("ALBRequestCountPerTarget");
    v.check(
        req.is_some_and(|p| {
            block_path(
                p.body(),
                &[
                    "target_tracking_configuration",
                    "predefined_metric_specification",
                ],
            )
            .is_some_and(|s| {
                attr_text(s, "resource_label").contains("aws_lb_target_group.app.arn_suffix")
            })
        }),
        || "target tracking on ALBRequestCountPerTarget missing".into(),
    );
    v.outcome()
}

#[test]
fn autoscaling_group_is_2_4_6_with_cpu_and_request_tracking() {
    assert_policy(
        asg,
        &[
            &[("variables.tf", "description = \"Auto Scaling group maximum size.\" type = number default = 6", "description = \"Auto Scaling group maximum size.\" type = number default = 8")],
            &[("variables.tf", "description = \"Auto Scaling group minimum size.\" type = number default = 2", "description = \"Auto Scaling group minimum size.\" type = number default = 1")],
            &[("app.tf", "health_check_type = \"EC2\"", "health_check_type = \"ELB\"")],
            &[("app.tf", "\"ASGAverageCPUUtilization\"", "\"ASGAverageNetworkIn\"")],
            &[("app.tf", "\"ALBRequestCountPerTarget\"", "\"ASGAverageNetworkOut\"")],
            &[("variables.tf", "description = \"Target tracking: average CPU utilisation of the group.\" type = number default = 50",
               "description = \"Target tracking: average CPU utilisation of the group.\" type = number default = 70")],
        ],
    );
}

fn instance_refresh(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let g = m
        .resource("aws_autoscaling_group", "app")
        .ok_or("ASG missing")?;
    let lt = block_path(g.body(), &["launch_template"]);
    v.check(
        lt.is_some_and(|l| attr_text(l, "version") == "aws_launch_template.app.latest_version"),
        || {
            "the ASG must pin the launch template's latest_version so every change reaches it"
                .into()
        },
    );
    let ir = block_path(g.body(), &["instance_refresh"]);
    v.check(
        ir.is_some_and(|r| attr_str(r, "strategy").as_deref() == Some("Rolling")),
        || "instance_refresh with the Rolling strategy missing".into(),
    );
    let min = ir
        .and_then(|r| block_path(r, &["preferences"]))
        .and_then(|p| attr(p, "min_healthy_percentage"))
        .and_then(|e| m.number(e));
    v.check(min.is_some_and(|x| x >= 100.0), || {
        format!("zero downtime needs min_healthy_percentage 100, is {min:?}")
    });
    // The binary's checksum is in the user data, so a new build changes the
    // launch template and so starts the refresh.
    let ud = m
        .resource("aws_launch_template", "app")
        .map(|l| attr_text(l.body(), "user_data"))
        .unwrap_or_default();
    v.check(ud.contains("module.user_data"), || {
        "user data must come from the module that embeds the checksum".into()
    });
    let call = m.items_of("module").find(|i| i.label(0) == "user_data");
    v.check(
        call.is_some_and(|c| attr_text(c.body(), "artifact_sha256") == "local.artifact_sha256"),
        || "the artifact checksum must reach the user data".into(),
    );
    v.outcome()
}

#[test]
fn instance_refresh_follows_launch_template_changes() {
    assert_policy(
        instance_refresh,
        &[
            &[(
                "app.tf",
                "version = aws_launch_template.app.latest_version",
                "version = \"$Default\"",
            )],
            &[("app.tf", "instance_refresh {", "instance_refresh_removed {")],
            &[(
                "app.tf",
                "min_healthy_percentage = 100",
                "min_healthy_percentage = 50",
            )],
            &[(
                "app.tf",
                "artifact_sha256 = local.artifact_sha256",
                "artifact_sha256 = var.artifact_sha256",
            )],
        ],
    );
}

// ------------------------------------------------------------- load balancer ---

fn listeners(m: &Module) -> Vec<&Item> {
    m.resources("aws_lb_listener")
}

fn https_redirect(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let mut redirect = false;
    let mut https = false;
    for l in listeners(m) {
        let b = l.body();
        let port = attr(b, "port").and_then(|e| m.number(e));
        let action = block_path(b, &["default_action"]);
        let typ = action.and_then(|a| attr_str(a, "type")).unwrap_or_default();
        let count = attr_text(b, "count");
        if port == Some(80.0) {
            if typ == "redirect" {
                let r = action.and_then(|a| block_path(a, &["redirect"]));
                let ok = r.is_some_and(|r| {
                    attr_str(r, "protocol").as_deref() == Some("HTTPS")
                        && attr_str(r, "port").as_deref() == Some("443")
                        && attr_str(r, "status_code").as_deref() == Some("HTTP_301")
                });
                v.check(ok, || {
                    format!("{}: must redirect to HTTPS:443 with 301", l.address())
                });
                v.check(count == "local.edge_enabled ? 1 : 0", || {
                    format!(
                        "{}: the redirect exists whenever there is a domain",
                        l.address()
                    )
                });
                redirect |= ok;
            } else {
                v.check(count == "local.edge_enabled ? 0 : 1", || format!("{}: a port-80 listener that does not redirect may only exist in no-domain trial mode (count = {count})", l.address()));
            }
        }
        if port == Some(443.0) {
            let policy = attr_str(b, "ssl_policy").unwrap_or_default();
            https = attr_str(b, "protocol").as_deref() == Some("HTTPS")
                && (policy.contains("TLS13-1-2") || policy.contains("TLS-1-2"))
                && attr(b, "certificate_arn").is_some();
            v.check(https, || {
                format!(
                    "{}: HTTPS with an ACM certificate and a TLS 1.2+ policy ({policy})",
                    l.address()
                )
            });
        }
    }
    v.check(redirect, || "no HTTP -> HTTPS redirect listener".into());
    v.check(https, || "no HTTPS listener".into());
    if let Some(cf) = m.resource("aws_cloudfront_distribution", "this") {
        let b = cf.body();
        for beh in blocks(b, "default_cache_behavior")
            .into_iter()
            .chain(blocks(b, "ordered_cache_behavior"))
        {
            v.check(
                attr_str(beh.body(), "viewer_protocol_policy").as_deref()
                    == Some("redirect-to-https"),
                || "CloudFront behaviours must redirect to HTTPS".into(),
            );
        }
        let tls = block_path(b, &["viewer_certificate"])
            .and_then(|c| attr_str(c, "minimum_protocol_version"));
        v.check(tls.as_deref() == Some("TLSv1.2_2021"), || {
            format!("CloudFront minimum TLS must be TLSv1.2_2021, is {tls:?}")
        });
        let origin = block_path(b, &["origin", "custom_origin_config"])
            .and_then(|c| attr_str(c, "origin_protocol_policy"));
        v.check(origin.as_deref() == Some("https-only"), || {
            "CloudFront must reach the ALB over HTTPS only".into()
        });
    } else {
        v.push("CloudFront distribution missing".into());
    }
    let alb = m.resource("aws_lb", "app");
    v.check(
        alb.is_some_and(|a| {
            attr(a.body(), "drop_invalid_header_fields").and_then(|e| m.boolean(e)) == Some(true)
        }),
        || "the ALB must drop invalid headers".into(),
    );
    v.check(
        alb.is_some_and(|a| {
            block_path(a.body(), &["access_logs"])
                .is_some_and(|l| attr(l, "enabled").and_then(|e| m.boolean(e)) == Some(true))
        }),
        || "ALB access logs".into(),
    );
    v.check(
        alb.is_some_and(|a| {
            attr_text(a.body(), "enable_deletion_protection") == "var.alb_deletion_protection"
        }),
        || "ALB deletion protection by variable".into(),
    );
    v.outcome()
}

#[test]
fn http_redirects_to_https_and_tls_is_1_2_or_better() {
    assert_policy(
        https_redirect,
        &[
            &[(
                "alb.tf",
                "protocol = \"HTTPS\" port = \"443\"",
                "protocol = \"HTTP\" port = \"443\"",
            )],
            &[("alb.tf", "count = local.edge_enabled ? 0 : 1", "count = 1")],
            &[(
                "alb.tf",
                "ssl_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"",
                "ssl_policy = \"ELBSecurityPolicy-2016-08\"",
            )],
            &[(
                "edge.tf",
                "viewer_protocol_policy = \"redirect-to-https\"",
                "viewer_protocol_policy = \"allow-all\"",
            )],
            &[(
                "edge.tf",
                "minimum_protocol_version = \"TLSv1.2_2021\"",
                "minimum_protocol_version = \"TLSv1\"",
            )],
            &[(
                "alb.tf",
                "drop_invalid_header_fields = true",
                "drop_invalid_header_fields = false",
            )],
        ],
    );
}

fn origin_header(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let https = listeners(m)
        .into_iter()
        .find(|l| attr(l.body(), "port").and_then(|e| m.number(e)) == Some(443.0));
    let Some(https) = https else {
        return Err("no HTTPS listener".into());
    };
    let da = block_path(https.body(), &["default_action"]);
    let status = da
        .and_then(|a| block_path(a, &["fixed_response"]))
        .and_then(|f| attr_str(f, "status_code"));
    v.check(
        da.and_then(|a| attr_str(a, "type")).as_deref() == Some("fixed-response")
            && status.as_deref() == Some("403"),
        || format!("the HTTPS listener must answer 403 by default (status {status:?})"),
    );
    let listener_ref = format!("aws_lb_listener.{}[0].arn", https.label(1));
    let rules: Vec<&Item> = m
        .resources("aws_lb_listener_rule")
        .into_iter()
        .filter(|r| attr_text(r.body(), "listener_arn") == listener_ref)
        .collect();
    v.check(!rules.is_empty(), || {
        "no listener rule on the HTTPS listener".into()
    });
    for r in &rules {
        let cond = block_path(r.body(), &["condition", "http_header"]);
        let name = cond
            .map(|c| attr_text(c, "http_header_name"))
            .unwrap_or_default();
        let values = cond.map(|c| attr_text(c, "values")).unwrap_or_default();
        v.check(name == "local.origin_header_name" && values.contains("terraform_data.origin_header"),
            || format!("{}: forwarding must require the secret origin header (name {name}, values {values})", r.address()));
        let fwd = block_path(r.body(), &["action"])
            .is_some_and(|a| attr_str(a, "type").as_deref() == Some("forward"));
        v.check(fwd, || format!("{}: must forward to the app", r.address()));
    }
    let pw = m.data("aws_secretsmanager_random_password", "origin_header");
    v.check(pw.is_some_and(|p| attr(p.body(), "password_length").and_then(|e| m.number(e)).unwrap_or(0.0) >= 32.0
        && attr(p.body(), "exclude_punctuation").and_then(|e| m.boolean(e)) == Some(true)),
        || "the origin secret must be a generated password of 32+ characters without punctuation (ALB wildcards)".into());
    let keeper = m.resource("terraform_data", "origin_header");
    v.check(keeper.is_some_and(|k| attr_text(k.body(), "input").contains("data.aws_secretsmanager_random_password.origin_header")
        && block_path(k.body(), &["lifecycle"]).is_some_and(|l| attr_text(l, "ignore_changes").contains("input"))),
        || "the origin secret must be kept in state (terraform_data ignoring later reads), not regenerated each plan".into());
    let cf = m
        .resource("aws_cloudfront_distribution", "this")
        .and_then(|c| block_path(c.body(), &["origin", "custom_header"]));
    v.check(
        cf.is_some_and(|h| {
            attr_text(h, "name") == "local.origin_header_name"
                && attr_text(h, "value").contains("terraform_data.origin_header")
        }),
        || "CloudFront must send the secret origin header".into(),
    );
    v.outcome()
}

#[test]
fn alb_forwards_only_requests_with_cloudfronts_secret_header() {
    assert_policy(
        origin_header,
        &[
            &[("alb.tf", "status_code = \"403\"", "status_code = \"404\"")],
            &[(
                "alb.tf",
                "http_header_name = local.origin_header_name",
                "http_header_name = \"X-Forwarded-Host\"",
            )],
            &[(
                "edge.tf",
                "name = local.origin_header_name",
                "name = \"X-Something-Else\"",
            )],
            &[(
                "alb.tf",
                "exclude_punctuation = true",
                "exclude_punctuation = false",
            )],
            &[("alb.tf", "ignore_changes = [input]", "ignore_changes = []")],
        ],
    );
}

fn target_group(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let tg = m
        .resource("aws_lb_target_group", "app")
        .ok_or("target group missing")?;
    let b = tg.body();
    let hc = block_path(b, &["health_check"]);
    v.check(
        hc.and_then(|h| attr_str(h, "path")).as_deref() == Some("/readyz"),
        || "the health check path must be /readyz".into(),
    );
    v.check(
        hc.and_then(|h| attr_str(h, "matcher")).as_deref() == Some("200"),
        || "the health check must expect 200".into(),
    );
    let grace = m
        .var_default("app_shutdown_grace_seconds")
        .and_then(|e| m.number(&e))
        .unwrap_or(f64::NAN);
    let delay = attr(b, "deregistration_delay").and_then(|e| m.number(e));
    v.check(grace == 20.0, || {
        format!("app drain (NEWSREAD_SHUTDOWN_GRACE) default must be 20 s, is {grace}")
    });
    v.check(delay.is_some_and(|d| d > 20.0 && d > grace), || {
        format!("deregistration delay {delay:?} must exceed the app's 20 s drain")
    });
    let val = m
        .variable("alb_deregistration_delay_seconds")
        .map(show_validations)
        .unwrap_or_default();
    v.check(val.contains("var.app_shutdown_grace_seconds"), || {
        "a validation must keep the deregistration delay above the drain".into()
    });
    let sticky = block_path(b, &["stickiness"])
        .and_then(|s| attr(s, "enabled"))
        .and_then(|e| m.boolean(e));
    v.check(sticky != Some(true), || {
        "no stickiness: sessions live in the database".into()
    });
    let stop = m
        .local("timeout_stop_secs")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(stop.contains("var.alb_deregistration_delay_seconds") && stop.contains("var.app_shutdown_grace_seconds"),
        || format!("systemd TimeoutStopSec must outlast the deregistration delay and the drain: {stop}"));
    v.outcome()
}

#[test]
fn target_group_checks_readyz_and_drains_longer_than_the_app() {
    assert_policy(
        target_group,
        &[
            &[("alb.tf", "path = \"/readyz\"", "path = \"/healthz\"")],
            &[("variables.tf", "type = number default = 45", "type = number default = 15")],
            &[("alb.tf", "type = \"lb_cookie\" enabled = false", "type = \"lb_cookie\" enabled = true")],
            &[("main.tf", "timeout_stop_secs = var.alb_deregistration_delay_seconds + var.app_shutdown_grace_seconds + 15", "timeout_stop_secs = 30")],
        ],
    );
}

// ------------------------------------------------------------------- IAM ---

/// (actions, resources) of every statement of every policy document.
fn statements(m: &Module) -> Vec<(String, Vec<String>, Vec<String>, String)> {
    let mut out = vec![];
    for d in m.datas("aws_iam_policy_document") {
        for s in blocks(d.body(), "statement") {
            let actions = attr(s.body(), "actions").map(strings).unwrap_or_default();
            let resources = match attr(s.body(), "resources") {
                Some(e) => {
                    let r = m.resolve(e);
                    let mut v = strings(&r);
                    if v.is_empty() {
                        v.push(show(&r));
                    }
                    v
                }
                None => vec![],
            };
            out.push((
                d.address(),
                actions,
                resources,
                attr_str(s.body(), "effect").unwrap_or_else(|| "Allow".into()),
            ));
        }
    }
    out
}

fn secrets_least_privilege(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let mut grants = 0;
    for (doc, actions, resources, effect) in statements(m) {
        if effect != "Allow" {
            continue;
        }
        let touches = actions
            .iter()
            .any(|a| a == "*" || a.to_lowercase().starts_with("secretsmanager:"));
        if !touches {
            continue;
        }
        grants += 1;
        let put_only_app = actions == vec!["secretsmanager:PutSecretValue".to_string()]
            && resources.len() == 1
            && resources[0].trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace())
                == "aws_secretsmanager_secret.db_app.arn";
        v.check(
            actions.iter().all(|a| a == "secretsmanager:GetSecretValue") || put_only_app,
            || format!("{doc}: secrets may only be read (GetSecretValue), and only the app's own credential written (PutSecretValue, rotation); got {actions:?} on {resources:?}"),
        );
        v.check(
            !resources.is_empty() && resources.iter().all(|r| !r.contains('*')),
            || format!("{doc}: secretsmanager actions on a wildcard resource {resources:?}"),
        );
    }
    v.check(grants == 2, || {
        format!("exactly two statements may grant secret access (read; rotate the app credential), found {grants}")
    });
    let arns = m
        .local("app_secret_arns")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(arns.contains("master_user_secret[0].secret_arn"), || {
        "the app must read the RDS-managed master secret by its ARN".into()
    });
    for a in m.resources("aws_iam_role_policy_attachment") {
        let arn = attr_text(a.body(), "policy_arn");
        v.check(
            !arn.contains("SecretsManagerReadWrite")
                && !arn.contains("AdministratorAccess")
                && !arn.contains("PowerUser"),
            || format!("{}: broad managed policy {arn}", a.address()),
        );
    }
    v.outcome()
}

#[test]
fn no_wildcard_resource_on_secrets_manager() {
    assert_policy(
        secrets_least_privilege,
        &[
            &[(
                "iam.tf",
                "resources = local.app_secret_arns",
                "resources = [\"*\"]",
            )],
            &[(
                "iam.tf",
                "actions = [\"secretsmanager:GetSecretValue\"]",
                "actions = [\"secretsmanager:*\"]",
            )],
            &[(
                "iam.tf",
                "resources = [aws_secretsmanager_secret.db_app.arn]",
                "resources = local.app_secret_arns",
            )],
            &[(
                "iam.tf",
                "resources = local.app_secret_arns",
                "resources = [\"arn:aws:secretsmanager:*:*:secret:*\"]",
            )],
        ],
    );
}

fn app_role_least_privilege(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let doc = m
        .data("aws_iam_policy_document", "app")
        .ok_or("app policy missing")?;
    for s in blocks(doc.body(), "statement") {
        let actions = attr(s.body(), "actions").map(strings).unwrap_or_default();
        let res = attr(s.body(), "resources")
            .map(|e| resolved_text(m, e))
            .unwrap_or_default();
        let conds = blocks(s.body(), "condition").len();
        if actions.iter().any(|a| a.starts_with("s3:")) {
            v.check(
                actions
                    == vec![
                        "s3:GetObject".to_string(),
                        "s3:GetObjectVersion".to_string(),
                    ],
                || format!("S3 access must be GetObject(Version) only: {actions:?}"),
            );
            v.check(res.contains("/releases/*"), || {
                format!("S3 reads limited to the artifact prefix, got {res}")
            });
        }
        if actions.iter().any(|a| a.starts_with("kms:")) {
            v.check(
                conds > 0
                    && (actions == vec!["kms:Decrypt".to_string()]
                        || actions == vec!["kms:GenerateDataKey".to_string()]),
                || "kms:Decrypt / kms:GenerateDataKey only, and only through the services (kms:ViaService)".into(),
            );
        }
        if res.contains("\"*\"") {
            v.check(
                conds > 0
                    || actions
                        .iter()
                        .all(|a| NO_RESOURCE_LEVEL.contains(&a.as_str())),
                || format!("statement on * without a condition: {actions:?}"),
            );
        }
        v.check(
            !actions.iter().any(|a| a.ends_with(":*") || a == "*"),
            || format!("wildcard action {actions:?}"),
        );
    }
    let agent = m.resources("aws_iam_role_policy").iter().any(|p| {
        attr_text(p.body(), "role").contains("aws_iam_role.app")
            && attr_text(p.body(), "policy").contains("data.aws_iam_policy_document.ssm_agent")
    });
    v.check(agent, || {
        "the app role needs the SSM agent statements for Session Manager".into()
    });
    let bastion = m.var_default("enable_bastion");
    v.check(matches!(bastion, Some(Expression::Bool(false))), || {
        "the bastion must be off by default".into()
    });
    v.check(
        m.resources("aws_vpc_security_group_ingress_rule")
            .iter()
            .all(|r| {
                !attr_text(r.body(), "security_group_id").contains("aws_security_group.bastion")
            }),
        || "the bastion takes no inbound traffic (SSM only)".into(),
    );
    v.outcome()
}

#[test]
fn app_role_is_least_privilege_and_operators_use_ssm() {
    assert_policy(
        app_role_least_privilege,
        &[
            &[(
                "s3.tf",
                "artifact_prefix_arn = \"${aws_s3_bucket.artifacts.arn}/releases/*\"",
                "artifact_prefix_arn = \"${aws_s3_bucket.artifacts.arn}/*\"",
            )],
            &[(
                "iam.tf",
                "actions = [\"s3:GetObject\", \"s3:GetObjectVersion\"]",
                "actions = [\"s3:GetObject\", \"s3:PutObject\"]",
            )],
            &[(
                "iam.tf",
                "actions = [\"kms:Decrypt\"]",
                "actions = [\"kms:Decrypt\", \"kms:Encrypt\"]",
            )],
            &[(
                "iam.tf",
                "\"ssm:GetManifest\",",
                "\"ssm:GetManifest\", \"ssm:GetParameter\",",
            )],
            &[(
                "variables.tf",
                "Session Manager reaches the app instances directly.\" type = bool default = false",
                "Session Manager reaches the app instances directly.\" type = bool default = true",
            )],
        ],
    );
}

// ----------------------------------------------------------------- edge ---

fn edge(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let cf = m
        .resource("aws_cloudfront_distribution", "this")
        .ok_or("CloudFront missing")?;
    let b = cf.body();
    let policy_name = |data: &str| {
        let name = data
            .trim_end_matches(".id")
            .trim_end_matches("[0]")
            .split('.')
            .nth(2)
            .unwrap_or("");
        m.data(data.split('.').nth(1).unwrap_or(""), name)
            .and_then(|d| attr_str(d.body(), "name"))
            .unwrap_or_default()
    };
    let def = block_path(b, &["default_cache_behavior"]);
    v.check(
        def.is_some_and(|d| {
            policy_name(&attr_text(d, "cache_policy_id")) == "Managed-CachingDisabled"
        }),
        || "dynamic pages must not be cached (Managed-CachingDisabled)".into(),
    );
    v.check(def.is_some_and(|d| policy_name(&attr_text(d, "origin_request_policy_id")) == "Managed-AllViewerAndCloudFrontHeaders-2022-06"), || "dynamic pages must forward viewer headers, cookies, query strings and CloudFront-Viewer-Address (Managed-AllViewerAndCloudFrontHeaders-2022-06)".into());
    let stat = blocks(b, "ordered_cache_behavior")
        .into_iter()
        .find(|o| attr_str(o.body(), "path_pattern").as_deref() == Some("/static/*"));
    v.check(
        stat.is_some_and(|s| {
            policy_name(&attr_text(s.body(), "cache_policy_id")) == "Managed-CachingOptimized"
        }),
        || "/static/* must be cached (Managed-CachingOptimized)".into(),
    );
    let cert = m.resource("aws_acm_certificate", "cloudfront");
    v.check(
        cert.is_some_and(|c| {
            attr_text(c.body(), "provider") == "aws.us_east_1"
                && attr_str(c.body(), "validation_method").as_deref() == Some("DNS")
        }),
        || "CloudFront's certificate must be issued in us-east-1 with DNS validation".into(),
    );
    let us = m.items_of("provider").any(|p| {
        attr_str(p.body(), "alias").as_deref() == Some("us_east_1")
            && attr_str(p.body(), "region").as_deref() == Some("us-east-1")
    });
    v.check(us, || "provider alias us_east_1 missing".into());
    v.check(
        m.resources("aws_route53_record").iter().any(|r| {
            block_path(r.body(), &["alias"])
                .is_some_and(|a| attr_text(a, "name").contains("aws_cloudfront_distribution"))
        }),
        || "Route 53 alias to CloudFront missing".into(),
    );
    let waf = m.resource("aws_wafv2_web_acl", "edge");
    let rules: Vec<String> = waf
        .map(|w| {
            blocks(w.body(), "rule")
                .iter()
                .filter_map(|r| {
                    block_path(r.body(), &["statement", "managed_rule_group_statement"])
                        .and_then(|s| attr_str(s, "name"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.check(
        rules.iter().any(|r| r == "AWSManagedRulesCommonRuleSet")
            && rules
                .iter()
                .any(|r| r == "AWSManagedRulesKnownBadInputsRuleSet"),
        || format!("optional WAF must use the AWS managed rule groups, has {rules:?}"),
    );
    v.check(
        attr_text(b, "web_acl_id").contains("var.enable_waf"),
        || "WAF attachment must follow enable_waf".into(),
    );
    v.outcome()
}

#[test]
fn cloudfront_caches_only_static_assets_with_us_east_1_certificate() {
    assert_policy(
        edge,
        &[
            &[("edge.tf", "path_pattern = \"/static/*\"", "path_pattern = \"/assets/*\"")],
            &[("edge.tf", "cache_policy_id = data.aws_cloudfront_cache_policy.caching_disabled[0].id", "cache_policy_id = data.aws_cloudfront_cache_policy.caching_optimized[0].id")],
            &[("edge.tf", "resource \"aws_acm_certificate\" \"cloudfront\" { count = local.edge_enabled ? 1 : 0 provider = aws.us_east_1", "resource \"aws_acm_certificate\" \"cloudfront\" { count = local.edge_enabled ? 1 : 0 provider = aws.eu_central")],
            &[("edge.tf", "name = \"AWSManagedRulesKnownBadInputsRuleSet\"", "name = \"AWSManagedRulesLinuxRuleSet\"")],
        ],
    );
}

// ----------------------------------------------------------- operations ---

fn operations(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let alarms = m.resources("aws_cloudwatch_metric_alarm");
    for metric in [
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "UnHealthyHostCount",
        "CPUUtilization",
        "FreeStorageSpace",
        "ReplicaLag",
    ] {
        let a = alarms
            .iter()
            .find(|a| attr_str(a.body(), "metric_name").as_deref() == Some(metric));
        v.check(
            a.is_some_and(|a| {
                attr_text(a.body(), "alarm_actions").contains("alarm_actions")
                    || attr_text(a.body(), "alarm_actions").contains("aws_sns_topic")
            }),
            || format!("alarm on {metric} to the SNS topic missing"),
        );
    }
    v.check(!m.resources("aws_cloudwatch_dashboard").is_empty(), || {
        "dashboard missing".into()
    });
    v.check(
        m.resource("aws_cloudwatch_log_group", "app").is_some(),
        || "app log group missing".into(),
    );
    let cw = m.resource("aws_ssm_association", "cloudwatch_agent");
    v.check(
        cw.is_some_and(|a| {
            attr_text(a.body(), "name").contains("aws_ssm_document.cloudwatch_agent")
        }),
        || "CloudWatch agent association missing".into(),
    );
    v.outcome()
}

#[test]
fn alarms_dashboard_and_log_shipping_exist() {
    assert_policy(
        operations,
        &[
            &[(
                "monitoring.tf",
                "metric_name = \"ReplicaLag\"",
                "metric_name = \"ReadLatency\"",
            )],
            &[(
                "monitoring.tf",
                "metric_name = \"UnHealthyHostCount\"",
                "metric_name = \"HealthyHostCount\"",
            )],
            &[(
                "monitoring.tf",
                "metric_name = \"HTTPCode_ELB_5XX_Count\"",
                "metric_name = \"HTTPCode_ELB_4XX_Count\"",
            )],
            &[(
                "ssm.tf",
                "name = aws_ssm_document.cloudwatch_agent.name",
                "name = \"AWS-RunShellScript\"",
            )],
        ],
    );
}

// -------------------------------------------------- app contract / config ---

fn app_environment(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let env = m
        .local("app_environment")
        .ok_or("local.app_environment missing")?;
    let Expression::FuncCall(merge) = &env else {
        return Err("app_environment must be merge(...)".into());
    };
    let mut keys = std::collections::BTreeMap::new();
    for arg in &merge.args {
        let arg = match arg {
            Expression::Conditional(c) => c.true_expr.clone(),
            e => e.clone(),
        };
        if let Expression::Object(o) = arg {
            for (k, val) in o.iter() {
                let key = match k {
                    hcl::ObjectKey::Identifier(i) => i.to_string(),
                    hcl::ObjectKey::Expression(e) => show(e).trim_matches('"').to_string(),
                    _ => continue,
                };
                keys.insert(key, show(val));
            }
        }
    }
    for k in [
        "NEWSREAD_LISTEN",
        "NEWSREAD_DATABASE_URL",
        "NEWSREAD_DATABASE_REPLICA_URL",
        "NEWSREAD_DATABASE_SECRET_ARN",
        "NEWSREAD_MEDIASTACK_SECRET_ARN",
        "AWS_REGION",
        "NEWSREAD_LOG_FORMAT",
        "NEWSREAD_SHUTDOWN_GRACE",
        "NEWSREAD_TRUSTED_PROXIES",
        "NEWSREAD_SHARED_DIR",
        "NEWSREAD_INGEST_INTERVAL",
        "NEWSREAD_METRICS_LISTEN",
    ] {
        v.check(keys.contains_key(k), || {
            format!("app environment lacks {k}")
        });
    }
    for (k, val) in &keys {
        let secretish = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "ACCESS_KEY"]
            .iter()
            .any(|s| k.contains(s));
        v.check(!secretish || k.ends_with("_ARN"), || {
            format!("{k}: secrets are passed as ARNs only")
        });
        v.check(
            !val.contains("master_user_password")
                && !val.contains("random_password")
                && !val.contains("origin_header"),
            || format!("{k} carries a secret value"),
        );
    }
    let get = |k: &str| keys.get(k).cloned().unwrap_or_default();
    v.check(
        get("NEWSREAD_DATABASE_SECRET_ARN") == "aws_secretsmanager_secret.db_app.arn",
        || "the web servers' database secret must be their own credential's ARN".into(),
    );
    v.check(
        get("NEWSREAD_DATABASE_REPLICA_URL") == "local.db_replica_url"
            && m.local("db_replica_url")
                .is_some_and(|e| show(&e).contains("aws_db_instance.replica.address")),
        || "replica URL must point at the replica".into(),
    );
    v.check(get("NEWSREAD_TRUSTED_PROXIES") == "var.vpc_cidr", || {
        "trusted proxies must be the VPC CIDR".into()
    });
    v.check(
        get("NEWSREAD_SHUTDOWN_GRACE").contains("var.app_shutdown_grace_seconds"),
        || "drain period must come from app_shutdown_grace_seconds".into(),
    );
    let metrics = m
        .local("metrics_listen")
        .and_then(|e| match e {
            Expression::String(s) => Some(s),
            _ => None,
        })
        .unwrap_or_default();
    v.check(metrics.starts_with("127.0.0.1:"), || {
        format!("metrics must listen on loopback only, not {metrics}")
    });
    v.check(
        get("NEWSREAD_METRICS_LISTEN") == "local.metrics_listen",
        || "NEWSREAD_METRICS_LISTEN must be local.metrics_listen".into(),
    );
    let shared = m
        .local("shared_dir")
        .and_then(|e| match e {
            Expression::String(s) => Some(s),
            _ => None,
        })
        .unwrap_or_default();
    v.check(
        get("NEWSREAD_SHARED_DIR") == "local.shared_dir" && shared.starts_with("/mnt/"),
        || "shared dir must be the EFS mount".into(),
    );
    v.outcome()
}

#[test]
fn app_environment_matches_the_contract_and_carries_only_arns() {
    assert_policy(
        app_environment,
        &[
            &[("app.tf", "NEWSREAD_TRUSTED_PROXIES = var.vpc_cidr", "")],
            &[("main.tf", "metrics_listen = \"127.0.0.1:9464\"", "metrics_listen = \"0.0.0.0:9464\"")],
            &[("app.tf", "NEWSREAD_LOG_FORMAT = \"json\"", "NEWSREAD_LOG_FORMAT = \"json\"\n      NEWSREAD_DATABASE_PASSWORD = terraform_data.origin_header[\"a\"].output")],
            &[("app.tf", "NEWSREAD_DATABASE_SECRET_ARN = aws_secretsmanager_secret.db_app.arn NEWSREAD_MIGRATE_ON_START", "NEWSREAD_DATABASE_SECRET_ARN = \"\" NEWSREAD_MIGRATE_ON_START")],
        ],
    );
}

fn versions_and_sources(tf: &Tf) -> Outcome {
    let mut v = Violations::new();
    let m = tf.root();
    let tfb = m
        .items_of("terraform")
        .next()
        .ok_or("terraform block missing")?;
    let rv = attr_str(tfb.body(), "required_version").unwrap_or_default();
    v.check(rv.contains(">=") && rv.contains('<'), || {
        format!("required_version must be bounded on both sides, is {rv:?}")
    });
    let rp = block_path(tfb.body(), &["required_providers"]);
    let spec = rp
        .and_then(|b| attr(b, "aws"))
        .map(show)
        .unwrap_or_default();
    v.check(spec.contains("~>"), || {
        format!("provider aws must be pinned with ~>, is {spec}")
    });
    // The provider mirror (CI, offline installs) holds hashicorp/aws only.
    let others: Vec<String> = rp
        .map(|b| {
            b.attributes()
                .map(|a| a.key().to_string())
                .filter(|k| k != "aws")
                .collect()
        })
        .unwrap_or_default();
    v.check(others.is_empty(), || {
        format!("hashicorp/aws must be the only provider (the mirror has no other), also requires {others:?}")
    });
    for module in tf.modules.values() {
        for item in &module.items {
            let used = ["resource", "data", "ephemeral"].contains(&item.kind())
                && !item.label(0).starts_with("aws_")
                && item.label(0) != "terraform_data";
            v.check(!used, || {
                format!(
                    "{}: needs a provider other than hashicorp/aws",
                    item.address()
                )
            });
        }
    }
    for module in tf.modules.values() {
        for call in module.items_of("module") {
            let src = attr_str(call.body(), "source").unwrap_or_default();
            v.check(src.starts_with("./") || src.starts_with("../"), || {
                format!("module {}: only local modules, not {src}", call.label(0))
            });
            v.check(attr(call.body(), "version").is_none(), || {
                "registry module versions are not allowed".into()
            });
        }
    }
    v.outcome()
}

#[test]
fn versions_are_pinned_and_no_registry_module_is_used() {
    assert_policy(
        versions_and_sources,
        &[
            &[(
                "versions.tf",
                "version = \"~> 5.80\"",
                "version = \">= 5.0\"",
            )],
            &[(
                "versions.tf",
                "required_version = \">= 1.11.0, < 2.0.0\"",
                "required_version = \">= 1.11.0\"",
            )],
            &[(
                "versions.tf",
                "version = \"~> 5.80\" }",
                "version = \"~> 5.80\" }\n    random = { source = \"hashicorp/random\", version = \"~> 3.6\" }",
            )],
            &[(
                "database.tf",
                "resource \"terraform_data\" \"db_final_snapshot_suffix\" {",
                "resource \"random_id\" \"db_final_snapshot_suffix\" {",
            )],
            &[(
                "app.tf",
                "source = \"./modules/app-user-data\"",
                "source = \"terraform-aws-modules/ec2/aws\"",
            )],
        ],
    );
}

fn references_resolve(tf: &Tf) -> Outcome {
    let mut v = Violations::new();
    for (dir, m) in &tf.modules {
        let known = declared(m);
        let mut refs = vec![];
        for item in &m.items {
            body_references(item.body(), &mut refs);
        }
        refs.sort();
        refs.dedup();
        for r in refs {
            let name = match r.root.as_str() {
                "var" | "local" | "module" => r.attrs.first().map(|a| format!("{}.{a}", r.root)),
                "data" => {
                    (r.attrs.len() >= 2).then(|| format!("data.{}.{}", r.attrs[0], r.attrs[1]))
                }
                root if root.starts_with("aws_") || root.starts_with("random_") => {
                    r.attrs.first().map(|a| format!("{root}.{a}"))
                }
                _ => None,
            };
            if let Some(name) = name {
                v.check(known.contains(&name), || {
                    format!(
                        "{}: reference to undeclared {name}",
                        if dir.is_empty() {
                            "deploy/terraform"
                        } else {
                            dir
                        }
                    )
                });
            }
        }
        // Module calls: every argument is a declared variable of the module,
        // and every variable without a default is given.
        for call in m.items_of("module") {
            let src = attr_str(call.body(), "source").unwrap_or_default();
            let child_dir = src
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let child_dir = if dir.is_empty() {
                child_dir
            } else {
                format!("{dir}/{child_dir}")
            };
            let Some(child) = tf.modules.get(&child_dir) else {
                v.push(format!("module {}: {child_dir} not found", call.label(0)));
                continue;
            };
            let args: Vec<String> = call
                .body()
                .attributes()
                .map(|a| a.key().to_string())
                .filter(|k| {
                    !["source", "count", "for_each", "depends_on", "providers"]
                        .contains(&k.as_str())
                })
                .collect();
            for a in &args {
                v.check(child.variable(a).is_some(), || {
                    format!("module {}: unknown argument {a}", call.label(0))
                });
            }
            for var in child.items_of("variable") {
                if attr(var.body(), "default").is_none() {
                    v.check(args.iter().any(|a| a == var.label(0)), || {
                        format!(
                            "module {}: required variable {} not set",
                            call.label(0),
                            var.label(0)
                        )
                    });
                }
            }
        }
        // Outputs and variables are documented.
        for kind in ["variable", "output"] {
            for i in m.items_of(kind) {
                v.check(
                    attr_str(i.body(), "description").is_some_and(|d| d.len() >= 10),
                    || format!("{dir}: {} needs a description", i.address()),
                );
            }
        }
        for i in m.items_of("variable") {
            v.check(attr(i.body(), "type").is_some(), || {
                format!("{dir}: {} needs a type", i.address())
            });
        }
    }
    v.outcome()
}

#[test]
fn references_resolve_and_variables_are_documented() {
    assert_policy(
        references_resolve,
        &[
            &[("alb.tf", "target_group_arn = aws_lb_target_group.app.arn", "target_group_arn = aws_lb_target_group.missing.arn")],
            &[("app.tf", "NEWSREAD_INGEST_INTERVAL = var.app_ingest_interval", "NEWSREAD_INGEST_INTERVAL = var.no_such_variable")],
            &[("app.tf", "source = \"./modules/app-user-data\"", "source = \"./modules/app-user-data\"\n  unknown_argument = 1")],
            &[("app.tf", "timeout_stop_sec = local.timeout_stop_secs", "")],
            &[("modules/app-user-data/main.tf", "shared_dir = var.shared_dir", "shared_dir = var.shared_directory")],
            &[("outputs.tf", "description = \"DNS name of the load balancer (with a domain it only answers CloudFront; use site_url).\"", "")],
        ],
    );
}

#[test]
fn find_flexible_matches_across_alignment() {
    let hay = "a {\n  count    = 3\n  name = \"x\"\n}";
    assert_eq!(
        find_flexible(hay, "count = 3 name").map(|(s, e)| &hay[s..e]),
        Some("count    = 3\n  name")
    );
    assert!(find_flexible(hay, "count = 4").is_none());
}

// ------------------------------------------------ issue 13: day-one defects ---

fn module_template(name: &str) -> String {
    let path = terraform_dir()
        .join("modules/app-user-data/templates")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_default()
}

/// Defect 1: a new release must not delete the previous one (provider 5.x
/// deletes every version of a key it destroys), so rollbacks can fetch it.
fn releases_survive_a_new_release(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let key = m
        .local("terraform_artifact_key")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(
        key.contains("\"releases/newsread\"") && !key.contains("artifact_sha256"),
        || format!("a new build must be a new version of one key (updated in place), not a new key that replaces the old object: artifact_key = {key}"),
    );
    let version = m
        .local("terraform_artifact_version_id")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(
        version.contains("aws_s3_object.binary[0].version_id"),
        || "the instances must fetch the exact version Terraform uploaded".into(),
    );
    let call = m.items_of("module").find(|i| i.label(0) == "user_data");
    v.check(
        call.is_some_and(|c| attr_text(c.body(), "artifact_version_id") == "local.artifact_version_id"),
        || "the version ID must reach the user data (a new release = a new launch template version)".into(),
    );
    let kept = m
        .resource("aws_s3_bucket_lifecycle_configuration", "artifacts")
        .and_then(|l| {
            blocks(l.body(), "rule").into_iter().find_map(|r| {
                block_path(r.body(), &["noncurrent_version_expiration"])
                    .and_then(|n| attr(n, "newer_noncurrent_versions"))
                    .and_then(|e| m.number(e))
            })
        });
    v.check(kept.is_some_and(|k| k >= 3.0), || {
        format!("the lifecycle rule must keep the last few releases (newer_noncurrent_versions >= 3), is {kept:?}")
    });
    let lt = m.resource("aws_s3_object", "binary");
    v.check(
        lt.is_some_and(|o| {
            block_path(o.body(), &["lifecycle"])
                .is_none_or(|l| attr(l, "create_before_destroy").is_none())
        }),
        || "the release object is updated in place".into(),
    );
    v.outcome()
}

#[test]
fn a_new_release_keeps_the_previous_binaries_for_rollback() {
    assert_policy(
        releases_survive_a_new_release,
        &[
            &[("s3.tf", "artifact_key = var.artifact_path != \"\" ? \"releases/newsread\"", "artifact_key = var.artifact_path != \"\" ? \"releases/newsread-${local.artifact_sha256}\"")],
            &[("s3.tf", "newer_noncurrent_versions = var.artifact_releases_kept", "")],
            &[("app.tf", "artifact_version_id = local.artifact_version_id", "")],
        ],
    );
}

/// Defect 2: instance replacement follows the instance's liveness, routing
/// follows readiness, and rolling deploys still wait for readiness.
fn replacement_follows_liveness(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let g = m
        .resource("aws_autoscaling_group", "app")
        .ok_or("ASG missing")?;
    let b = g.body();
    v.check(attr_str(b, "health_check_type").as_deref() == Some("EC2"), || {
        "with ELB health checks a database failover (/readyz 503 everywhere) terminates the whole fleet".into()
    });
    let tg = m.resource("aws_lb_target_group", "app");
    v.check(
        tg.and_then(|t| block_path(t.body(), &["health_check"]))
            .and_then(|h| attr_str(h, "path"))
            .as_deref()
            == Some("/readyz"),
        || "routing follows readiness (/readyz)".into(),
    );
    let hook = block_path(b, &["initial_lifecycle_hook"]);
    v.check(
        hook.is_some_and(|h| {
            attr_str(h, "lifecycle_transition").as_deref()
                == Some("autoscaling:EC2_INSTANCE_LAUNCHING")
                && attr_str(h, "default_result").as_deref() == Some("ABANDON")
        }),
        || "a launching instance must wait for readiness (launch hook, ABANDON by default)".into(),
    );
    let prefs = block_path(b, &["instance_refresh", "preferences"]);
    v.check(
        prefs.is_some_and(|p| attr(p, "auto_rollback").and_then(|e| m.boolean(e)) == Some(true)),
        || "a failed refresh must roll back".into(),
    );
    let hook_name = m
        .items_of("module")
        .find(|i| i.label(0) == "user_data")
        .map(|c| attr_text(c.body(), "launch_hook_name"))
        .unwrap_or_default();
    v.check(
        hook_name == "local.launch_hook_name"
            && hook.is_some_and(|h| attr_text(h, "name") == "local.launch_hook_name"),
        || "the instance's launch gate must complete the group's own hook".into(),
    );
    let timer = module_template("newsread-liveness.timer.tftpl");
    let script = module_template("newsread-liveness.sh.tftpl");
    v.check(timer.contains("OnUnitActiveSec="), || {
        "the liveness watchdog timer is missing".into()
    });
    v.check(
        script.contains("/healthz")
            && !script.contains("/readyz")
            && script.contains("systemctl restart"),
        || "the watchdog must restart newsread on /healthz (liveness) failures only".into(),
    );
    let gate = module_template("newsread-launch-gate.service.tftpl");
    v.check(gate.contains("/readyz"), || {
        "the launch gate must wait for /readyz".into()
    });
    v.outcome()
}

#[test]
fn a_database_failover_does_not_replace_the_fleet() {
    assert_policy(
        replacement_follows_liveness,
        &[
            &[(
                "app.tf",
                "health_check_type = \"EC2\"",
                "health_check_type = \"ELB\"",
            )],
            &[(
                "app.tf",
                "default_result = \"ABANDON\"",
                "default_result = \"CONTINUE\"",
            )],
            &[(
                "app.tf",
                "initial_lifecycle_hook {",
                "initial_lifecycle_hook_removed {",
            )],
            &[("alb.tf", "path = \"/readyz\"", "path = \"/healthz\"")],
        ],
    );
}

/// Defect 3: S3 access logging of a bucket is configured only once the log
/// bucket's policy lets the logging service write.
fn logging_after_log_bucket_policy(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let logging = m.resources("aws_s3_bucket_logging");
    v.check(!logging.is_empty(), || "no S3 access logging".into());
    for l in logging {
        let target = attr_text(l.body(), "target_bucket");
        let bucket = target.split('.').nth(1).unwrap_or("").to_string();
        let deps = attr_text(l.body(), "depends_on");
        v.check(deps.contains(&format!("aws_s3_bucket_policy.{bucket}")), || {
            format!("{}: must depend on aws_s3_bucket_policy.{bucket} (InvalidTargetBucketForLogging on the first apply)", l.address())
        });
    }
    v.outcome()
}

#[test]
fn access_logging_waits_for_the_log_bucket_policy() {
    assert_policy(
        logging_after_log_bucket_policy,
        &[&[("s3.tf", "depends_on = [aws_s3_bucket_policy.logs] }", "}")]],
    );
}

/// Defect 4: the web servers use their own least-privilege credential; the
/// master credential is only for the migration unit.
fn app_has_its_own_database_role(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let env = m
        .local("app_environment")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(!env.contains("master_user_secret"), || {
        "the web servers' environment must not carry the master secret".into()
    });
    v.check(
        env.contains("NEWSREAD_DATABASE_SECRET_ARN = aws_secretsmanager_secret.db_app.arn"),
        || "the web servers must connect with the app credential secret".into(),
    );
    v.check(
        env.contains("NEWSREAD_MIGRATE_ON_START = \"false\""),
        || "the web servers must not run DDL (NEWSREAD_MIGRATE_ON_START=false)".into(),
    );
    let mig = m
        .local("migrate_environment")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(
        mig.contains("NEWSREAD_DATABASE_ADMIN_SECRET_ARN = aws_db_instance.primary.master_user_secret[0].secret_arn")
            && mig.contains("NEWSREAD_DATABASE_SECRET_ARN = aws_secretsmanager_secret.db_app.arn"),
        || "the migration unit gets the master (admin) secret and the app secret".into(),
    );
    let secret = m.resource("aws_secretsmanager_secret", "db_app");
    v.check(
        secret.is_some_and(|s| attr_text(s.body(), "kms_key_id").contains("aws_kms_key.main")),
        || "the app credential secret must use the CMK".into(),
    );
    let version = m.resource("aws_secretsmanager_secret_version", "db_app");
    v.check(
        version.is_some_and(|s| {
            attr(s.body(), "secret_string").is_none()
                && attr_text(s.body(), "secret_string_wo").contains("ephemeral.aws_secretsmanager_random_password.db_app")
        }),
        || "the generated password must be write-only (never in state): secret_string_wo from an ephemeral password".into(),
    );
    let unit = module_template("newsread-migrate.service.tftpl");
    v.check(
        unit.contains("Type=oneshot") && unit.contains("newsread migrate")
            || unit.contains("${exec_migrate}"),
        || "newsread-migrate.service missing".into(),
    );
    let serve = module_template("newsread.service.tftpl");
    v.check(serve.contains("Requires=newsread-migrate.service"), || {
        "newsread.service must require the migration".into()
    });
    v.outcome()
}

#[test]
fn web_servers_connect_with_their_own_least_privilege_role() {
    assert_policy(
        app_has_its_own_database_role,
        &[
            &[("app.tf", "NEWSREAD_DATABASE_SECRET_ARN = aws_secretsmanager_secret.db_app.arn NEWSREAD_MIGRATE_ON_START", "NEWSREAD_DATABASE_SECRET_ARN = aws_db_instance.primary.master_user_secret[0].secret_arn NEWSREAD_MIGRATE_ON_START")],
            &[("app.tf", "NEWSREAD_MIGRATE_ON_START = \"false\"", "NEWSREAD_MIGRATE_ON_START = \"true\"")],
            &[("secrets.tf", "secret_string_wo = jsonencode({", "secret_string = jsonencode({")],
        ],
    );
}

/// Defect 5: no silent burst-credit surcharge: the default app type is not
/// burstable, and a burstable type gets an explicit credit mode.
fn instance_family_is_deliberate(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let types = m
        .local("app_instance_type")
        .map(|e| show(&e))
        .unwrap_or_default();
    let defaults: Vec<&str> = types
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('.'))
        .collect();
    v.check(!defaults.is_empty(), || {
        format!("no default instance type in {types}")
    });
    for t in &defaults {
        v.check(!t.starts_with('t'), || {
            format!("default app type {t} is burstable: at the 50% CPU target it runs on surplus credits")
        });
    }
    let lt = m.resource("aws_launch_template", "app");
    let credit = lt.is_some_and(|l| {
        l.body().blocks().any(|b| {
            b.identifier() == "dynamic"
                && b.labels()
                    .first()
                    .is_some_and(|x| x.as_str() == "credit_specification")
        })
    });
    v.check(credit, || {
        "a burstable app type must get an explicit credit mode (credit_specification)".into()
    });
    v.outcome()
}

#[test]
fn app_instance_family_and_credit_mode_are_deliberate() {
    assert_policy(
        instance_family_is_deliberate,
        &[
            &[("main.tf", "\"c7a.medium\"", "\"t3.small\"")],
            &[(
                "app.tf",
                "dynamic \"credit_specification\" {",
                "dynamic \"credit_specification_removed\" {",
            )],
        ],
    );
}

/// Defect 6: the AMI is resolved once and kept; a new Canonical image does
/// not roll the fleet by itself.
fn ami_is_pinned(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let ami = m.local("ami_id").map(|e| show(&e)).unwrap_or_default();
    v.check(!ami.contains("data.aws_ssm_parameter"), || {
        format!("local.ami_id must not follow the SSM parameter on every plan: {ami}")
    });
    v.check(ami.contains("terraform_data.ami"), || {
        "local.ami_id must come from the kept value".into()
    });
    let keeper = m.resource("terraform_data", "ami");
    v.check(
        keeper.is_some_and(|k| {
            attr_text(k.body(), "input").contains("data.aws_ssm_parameter.ubuntu_ami")
                && block_path(k.body(), &["lifecycle"]).is_some_and(|l| attr_text(l, "ignore_changes").contains("input"))
                && attr_text(k.body(), "triggers_replace").contains("var.ami_generation")
        }),
        || "terraform_data.ami must resolve the parameter once (ignore_changes = [input]) and change only with var.ami_generation".into(),
    );
    v.outcome()
}

#[test]
fn the_ami_is_pinned_and_changes_only_on_purpose() {
    assert_policy(
        ami_is_pinned,
        &[
            &[("main.tf", "ami_id = var.ami_id != null ? var.ami_id : terraform_data.ami[0].output", "ami_id = coalesce(var.ami_id, data.aws_ssm_parameter.ubuntu_ami[0].insecure_value)")],
            &[("main.tf", "ignore_changes = [input]", "ignore_changes = []")],
        ],
    );
}

/// Defect 7: no account-wide parameter access through
/// AmazonSSMManagedInstanceCore; the S3 gateway endpoint has a policy.
fn ssm_and_s3_endpoint_least_privilege(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    for a in m.resources("aws_iam_role_policy_attachment") {
        let arn = attr_text(a.body(), "policy_arn");
        v.check(!arn.contains("AmazonSSMManagedInstanceCore"), || {
            format!(
                "{}: AmazonSSMManagedInstanceCore grants ssm:GetParameter(s) on every parameter",
                a.address()
            )
        });
    }
    for (doc, actions, resources, effect) in statements(m) {
        if effect != "Allow" {
            continue;
        }
        let params = actions
            .iter()
            .any(|a| a.starts_with("ssm:GetParameter") || a == "ssm:*" || a == "*");
        if params {
            v.check(resources.iter().all(|r| !r.contains('*')), || {
                format!("{doc}: parameter reads on a wildcard {resources:?}")
            });
        }
    }
    let ep = m.resource("aws_vpc_endpoint", "s3");
    v.check(
        ep.is_some_and(|e| {
            attr_text(e.body(), "policy").contains("data.aws_iam_policy_document.s3_endpoint")
        }),
        || "the S3 gateway endpoint needs an endpoint policy".into(),
    );
    let doc = m.data("aws_iam_policy_document", "s3_endpoint");
    v.check(
        doc.is_some_and(|d| {
            blocks(d.body(), "statement").iter().all(|s| {
                strings(attr(s.body(), "actions").unwrap_or(&Expression::Null))
                    .iter()
                    .all(|a| a == "s3:GetObject" || a == "s3:GetObjectVersion")
            })
        }),
        || "the S3 endpoint policy may only allow reads".into(),
    );
    v.outcome()
}

#[test]
fn ssm_agent_and_s3_endpoint_are_least_privilege() {
    assert_policy(
        ssm_and_s3_endpoint_least_privilege,
        &[
            &[("bastion.tf", "resource \"aws_iam_role_policy\" \"bastion_ssm\" { count = var.enable_bastion ? 1 : 0 name = \"ssm-agent\" role = aws_iam_role.bastion[0].id policy = data.aws_iam_policy_document.ssm_agent.json }",
               "resource \"aws_iam_role_policy_attachment\" \"bastion_ssm\" {\n  count = var.enable_bastion ? 1 : 0\n  role = aws_iam_role.bastion[0].name\n  policy_arn = \"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\"\n}")],
            &[("network.tf", "policy = data.aws_iam_policy_document.s3_endpoint.json", "")],
            &[("network.tf", "sid = \"ReadOtherAccountsObjects\" actions = [\"s3:GetObject\"]", "sid = \"ReadOtherAccountsObjects\"\n    actions = [\"s3:GetObject\", \"s3:PutObject\"]")],
            &[("iam.tf", "actions = [\"ssm:GetParameter\"]", "actions = [\"ssm:GetParameter\"]\n    resources = [\"*\"]\n  }\n  statement {\n    actions = [\"ssm:GetParameters\"]")],
        ],
    );
}

/// Defect 8: the final snapshot name is unique per database; trial mode
/// reads no CloudFront data source. Issue 14: CloudFront forwards
/// CloudFront-Viewer-Address and the app is told so only in domain mode.
fn snapshot_and_edge_reads(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let snap = m
        .resource("aws_db_instance", "primary")
        .map(|p| attr_text(p.body(), "final_snapshot_identifier"))
        .unwrap_or_default();
    v.check(
        snap.contains("terraform_data.db_final_snapshot_suffix.output"),
        || format!("the final snapshot name must be unique per database, is {snap}"),
    );
    let suffix = m.resource("terraform_data", "db_final_snapshot_suffix");
    v.check(
        suffix.is_some_and(|s| {
            attr_text(s.body(), "input").contains("plantimestamp()")
                && block_path(s.body(), &["lifecycle"])
                    .is_some_and(|l| attr_text(l, "ignore_changes").contains("input"))
        }),
        || "the snapshot suffix must be fixed at creation (plantimestamp, ignore_changes)".into(),
    );
    for d in m
        .items_of("data")
        .filter(|d| d.label(0).starts_with("aws_cloudfront_"))
    {
        v.check(
            attr_text(d.body(), "count").contains("local.edge_enabled"),
            || {
                format!(
                    "{}: read only with a domain (count on local.edge_enabled)",
                    d.address()
                )
            },
        );
    }
    let env = m
        .local("app_environment")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(
        env.contains("local.edge_enabled ? { NEWSREAD_CLIENT_ADDRESS_HEADER = \"CloudFront-Viewer-Address\" } : {}"),
        || "NEWSREAD_CLIENT_ADDRESS_HEADER=CloudFront-Viewer-Address in domain mode only".into(),
    );
    let orp = m
        .data(
            "aws_cloudfront_origin_request_policy",
            "all_viewer_and_cloudfront",
        )
        .and_then(|d| attr_str(d.body(), "name"));
    v.check(
        orp.as_deref() == Some("Managed-AllViewerAndCloudFrontHeaders-2022-06"),
        || format!("the origin request policy must forward CloudFront-Viewer-Address, is {orp:?}"),
    );
    v.outcome()
}

#[test]
fn final_snapshot_is_unique_and_trial_mode_reads_no_cloudfront() {
    assert_policy(
        snapshot_and_edge_reads,
        &[
            &[("database.tf", "final_snapshot_identifier = \"${local.db_identifier}-final-${terraform_data.db_final_snapshot_suffix.output}\"", "final_snapshot_identifier = \"${local.db_identifier}-final\"")],
            &[("edge.tf", "data \"aws_cloudfront_cache_policy\" \"caching_disabled\" { count = local.edge_enabled ? 1 : 0", "data \"aws_cloudfront_cache_policy\" \"caching_disabled\" {")],
            &[("app.tf", "local.edge_enabled ? { NEWSREAD_CLIENT_ADDRESS_HEADER", "true ? { NEWSREAD_CLIENT_ADDRESS_HEADER")],
            &[("edge.tf", "name = \"Managed-AllViewerAndCloudFrontHeaders-2022-06\"", "name = \"Managed-AllViewer\"")],
        ],
    );
}

// ------------------------------------------------------------- delivery ---

/// The pipeline's policy documents (pipeline.tf), one per role.
const PIPELINE_DOCS: [&str; 4] = [
    "pipeline",
    "pipeline_build",
    "pipeline_deploy",
    "pipeline_trigger",
];

/// Describe calls without resource-level permissions ("*" is the only
/// resource they accept) that the deploy script makes.
const PIPELINE_DESCRIBE: [&str; 4] = [
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeInstanceRefreshes",
];

/// A statement of a policy document, `dynamic "statement"` content included:
/// (sid, actions, resources as resolved text, condition variables).
struct Stmt {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<String>,
}

fn doc_statements(m: &Module, doc: &Item) -> Vec<Stmt> {
    let mut bodies: Vec<&hcl::Body> = blocks(doc.body(), "statement")
        .into_iter()
        .map(|b| b.body())
        .collect();
    for d in blocks(doc.body(), "dynamic") {
        if d.labels().first().map(|l| l.as_str()) == Some("statement") {
            if let Some(c) = block_path(d.body(), &["content"]) {
                bodies.push(c);
            }
        }
    }
    bodies
        .into_iter()
        .map(|b| {
            let resources = match attr(b, "resources").map(|e| m.resolve(e)) {
                Some(Expression::Array(items)) => {
                    items.iter().map(|i| show(&m.resolve(i))).collect()
                }
                Some(other) => vec![show(&other)],
                None => vec![],
            };
            Stmt {
                sid: attr_str(b, "sid").unwrap_or_default(),
                actions: attr(b, "actions").map(strings).unwrap_or_default(),
                resources,
                conditions: blocks(b, "condition")
                    .iter()
                    .map(|c| attr_text(c.body(), "variable"))
                    .collect(),
            }
        })
        .collect()
}

fn pipeline_roles_least_privilege(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    for name in PIPELINE_DOCS {
        let Some(doc) = m.data("aws_iam_policy_document", name) else {
            v.push(format!("data.aws_iam_policy_document.{name} missing"));
            continue;
        };
        for s in doc_statements(m, doc) {
            let what = format!("{name}/{}", s.sid);
            v.check(!s.actions.is_empty(), || format!("{what}: no actions"));
            v.check(
                !s.actions.iter().any(|a| a == "*" || a.ends_with(":*")),
                || format!("{what}: wildcard action {:?}", s.actions),
            );
            v.check(!s.resources.is_empty(), || format!("{what}: no resources"));
            for r in &s.resources {
                let bare = r.trim_matches('"') == "*";
                v.check(
                    !bare
                        || s.actions
                            .iter()
                            .all(|a| PIPELINE_DESCRIBE.contains(&a.as_str())),
                    || format!("{what}: Resource \"*\" for {:?}", s.actions),
                );
                // Buckets by ARN: a whole bucket's objects ("<bucket>/*") is
                // too much; each names its prefix or key.
                v.check(
                    !(r.contains("aws_s3_bucket.") && r.ends_with("arn}/*\"")),
                    || format!("{what}: every object of a bucket ({r})"),
                );
                v.check(!r.contains(":*:*") && !r.contains("::*"), || {
                    format!("{what}: wildcard account or region in {r}")
                });
            }
            let touches = |p: &str| s.actions.iter().any(|a| a.starts_with(p));
            if touches("kms:") {
                v.check(
                    s.conditions.iter().any(|c| c.contains("kms:ViaService")),
                    || format!("{what}: KMS only through a service (kms:ViaService)"),
                );
                v.check(
                    s.resources.iter().all(|r| r == "aws_kms_key.main.arn"),
                    || {
                        format!(
                            "{what}: KMS on the project's key only, got {:?}",
                            s.resources
                        )
                    },
                );
            }
            if touches("s3:Put") && name == "pipeline_deploy" {
                v.check(
                    s.resources
                        == vec![
                            "\"${aws_s3_bucket.artifacts.arn}/${local.pipeline_release_key}\""
                                .to_string(),
                        ],
                    || {
                        format!(
                            "{what}: the deploy role writes the one release key only, got {:?}",
                            s.resources
                        )
                    },
                );
            }
            if touches("ec2:Create") || touches("ec2:Modify") || touches("ec2:Delete") {
                v.check(
                    s.actions.iter().all(|a| a.starts_with("ec2:CreateTags"))
                        || (s.resources.len() == 1
                            && s.resources[0]
                                .ends_with(":launch-template/${aws_launch_template.app.id}\"")),
                    || {
                        format!(
                            "{what}: launch template writes on the app's template only, got {:?}",
                            s.resources
                        )
                    },
                );
            }
            if touches("ec2:RunInstances") {
                v.check(
                    s.conditions
                        .iter()
                        .any(|c| c.contains("ec2:LaunchTemplate")),
                    || format!("{what}: RunInstances only from the app's launch template"),
                );
            }
            if touches("autoscaling:Start") || touches("autoscaling:Cancel") {
                v.check(
                    s.resources.len() == 1
                        && s.resources[0].ends_with("autoScalingGroupName/${local.app_asg_name}\""),
                    || {
                        format!(
                            "{what}: refreshes of the app group only, got {:?}",
                            s.resources
                        )
                    },
                );
            }
            if touches("iam:PassRole") {
                v.check(
                    s.resources == vec!["aws_iam_role.app.arn".to_string()]
                        && s.conditions
                            .iter()
                            .any(|c| c.contains("iam:PassedToService")),
                    || format!("{what}: PassRole of the app role to EC2 only"),
                );
            }
            if touches("logs:") {
                v.check(
                    s.resources
                        .iter()
                        .all(|r| r.contains("aws_cloudwatch_log_group.pipeline[")),
                    || {
                        format!(
                            "{what}: logs only to the pipeline's own log group, got {:?}",
                            s.resources
                        )
                    },
                );
            }
            if touches("ssm:") {
                v.check(
                    s.resources == vec!["aws_ssm_parameter.release[0].arn".to_string()],
                    || format!("{what}: the release parameter only, got {:?}", s.resources),
                );
            }
        }
    }
    // One inline policy per role, no managed policy on any pipeline role.
    for role in [
        "pipeline",
        "pipeline_build",
        "pipeline_deploy",
        "pipeline_trigger",
    ] {
        let inline = m
            .resources("aws_iam_role_policy")
            .iter()
            .filter(|p| attr_text(p.body(), "role") == format!("aws_iam_role.{role}[0].id"))
            .count();
        v.check(inline == 1, || {
            format!("aws_iam_role.{role}: exactly one inline policy, found {inline}")
        });
    }
    for a in m.resources("aws_iam_role_policy_attachment") {
        v.check(
            !attr_text(a.body(), "role").contains("aws_iam_role.pipeline"),
            || format!("{}: no managed policy on a pipeline role", a.address()),
        );
    }
    v.outcome()
}

#[test]
fn every_pipeline_role_is_scoped_to_its_own_resources() {
    assert_policy(
        pipeline_roles_least_privilege,
        &[
            &[(
                "pipeline.tf",
                "resources = [\"${aws_s3_bucket.artifacts.arn}/${local.pipeline_release_key}\"]",
                "resources = [\"${aws_s3_bucket.artifacts.arn}/*\"]",
            )],
            &[(
                "pipeline.tf",
                "actions = [\"autoscaling:StartInstanceRefresh\", \"autoscaling:CancelInstanceRefresh\"]",
                "actions = [\"autoscaling:*\"]",
            )],
            &[(
                "pipeline.tf",
                "\"autoscaling:DescribeInstanceRefreshes\",",
                "\"autoscaling:DescribeInstanceRefreshes\", \"autoscaling:StartInstanceRefresh\",",
            )],
            &[(
                "pipeline.tf",
                "actions = [\"ec2:CreateLaunchTemplateVersion\", \"ec2:ModifyLaunchTemplate\", \"ec2:DeleteLaunchTemplateVersions\"] resources = [local.launch_template_arn]",
                "actions = [\"ec2:CreateLaunchTemplateVersion\", \"ec2:ModifyLaunchTemplate\", \"ec2:DeleteLaunchTemplateVersions\"] resources = [\"arn:aws:ec2:*:*:launch-template/*\"]",
            )],
            &[(
                "pipeline.tf",
                "resources = [aws_iam_role.app.arn]",
                "resources = [\"*\"]",
            )],
            &[(
                "pipeline.tf",
                "variable = \"ec2:LaunchTemplate\"",
                "variable = \"ec2:Region\"",
            )],
            &[(
                "pipeline.tf",
                "resources = [aws_ssm_parameter.release[0].arn]",
                "resources = [\"arn:aws:ssm:*:*:parameter/*\"]",
            )],
            &[(
                "pipeline.tf",
                "pipeline_run_objects = \"${local.pipeline_bucket_arn}/${local.pipeline_artifact_prefix}*\"",
                "pipeline_run_objects = \"${aws_s3_bucket.pipeline[0].arn}/*\"",
            )],
            &[(
                "pipeline.tf",
                "actions = [\"codebuild:StartBuild\", \"codebuild:BatchGetBuilds\"]",
                "actions = [\"codebuild:*\"]",
            )],
            &[(
                "pipeline.tf",
                "values = local.kms_via_s3 } } statement { sid = \"WriteBuildLogs\"",
                "values = local.kms_via_s3\n }\n }\n statement {\n sid = \"KeyAnywhere\"\n actions = [\"kms:Decrypt\"]\n resources = [\"*\"]\n }\n statement {\n sid = \"WriteBuildLogs\"",
            )],
            &[(
                "pipeline.tf",
                "resources = [\"${aws_cloudwatch_log_group.pipeline[\"deploy\"].arn}:*\"]",
                "resources = [\"arn:aws:logs:*:*:*\"]",
            )],
        ],
    );
}

fn pipeline_encrypted_with_the_project_key(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let key = "aws_kms_key.main.arn";
    let p = m
        .resource("aws_codepipeline", "release")
        .ok_or("aws_codepipeline.release missing")?;
    let store = block_path(p.body(), &["artifact_store", "encryption_key"]);
    v.check(
        store.is_some_and(|e| {
            attr_text(e, "id") == key && attr_str(e, "type").as_deref() == Some("KMS")
        }),
        || "the pipeline's artifact store must be encrypted with aws_kms_key.main".into(),
    );
    v.check(
        block_path(p.body(), &["artifact_store"])
            .is_some_and(|s| attr_text(s, "location") == "aws_s3_bucket.pipeline[0].id"),
        || "the artifact store is the pipeline bucket".into(),
    );
    for name in ["build", "deploy"] {
        let Some(c) = m.resource("aws_codebuild_project", name) else {
            v.push(format!("aws_codebuild_project.{name} missing"));
            continue;
        };
        v.check(attr_text(c.body(), "encryption_key") == key, || {
            format!("aws_codebuild_project.{name}: encryption_key must be aws_kms_key.main")
        });
        let privileged = block_path(c.body(), &["environment"])
            .and_then(|e| attr(e, "privileged_mode"))
            .and_then(|e| m.boolean(e));
        v.check(privileged == Some(false), || {
            format!("aws_codebuild_project.{name}: privileged_mode must be false")
        });
        let logs = block_path(c.body(), &["logs_config", "cloudwatch_logs"])
            .map(|l| attr_text(l, "group_name"))
            .unwrap_or_default();
        v.check(logs.contains("aws_cloudwatch_log_group.pipeline["), || {
            format!("aws_codebuild_project.{name}: logs to its own pipeline log group")
        });
    }
    let cache = m
        .resource("aws_codebuild_project", "build")
        .and_then(|c| block_path(c.body(), &["cache"]));
    v.check(
        cache.is_some_and(|c| {
            attr_str(c, "type").as_deref() == Some("S3")
                && attr_text(c, "location").contains("aws_s3_bucket.pipeline[0].id")
        }),
        || "the build cache lives in the (KMS-encrypted) pipeline bucket".into(),
    );
    let sse = m
        .resource(
            "aws_s3_bucket_server_side_encryption_configuration",
            "pipeline",
        )
        .and_then(|s| {
            block_path(
                s.body(),
                &["rule", "apply_server_side_encryption_by_default"],
            )
        });
    v.check(
        sse.is_some_and(|d| {
            attr_str(d, "sse_algorithm").as_deref() == Some("aws:kms")
                && attr_text(d, "kms_master_key_id") == key
        }),
        || "the pipeline bucket must default to SSE-KMS with aws_kms_key.main".into(),
    );
    v.check(
        m.resource("aws_s3_bucket_versioning", "pipeline").is_some()
            && m.resource("aws_s3_bucket_public_access_block", "pipeline")
                .is_some(),
        || "the pipeline bucket must be versioned (S3 source) and block public access".into(),
    );
    let lg = m.resource("aws_cloudwatch_log_group", "pipeline");
    v.check(
        lg.is_some_and(|g| {
            attr_text(g.body(), "kms_key_id") == key
                && attr_text(g.body(), "retention_in_days") == "var.log_retention_days"
        }),
        || "the pipeline log groups need the project's key and a retention".into(),
    );
    let up = m
        .data("aws_iam_policy_document", "pipeline_deploy")
        .map(|d| doc_statements(m, d))
        .unwrap_or_default();
    v.check(
        up.iter()
            .any(|s| s.actions == vec!["s3:PutObject".to_string()]),
        || "the deploy role uploads the release".into(),
    );
    let script = std::fs::read_to_string(terraform_dir().join("../aws/release-to-fleet"))
        .unwrap_or_default();
    v.check(
        script.contains("\"--server-side-encryption\", \"aws:kms\"")
            && script.contains("\"--ssekms-key-id\", kms_key"),
        || "deploy/aws/release-to-fleet must upload with SSE-KMS and the project's key".into(),
    );
    v.outcome()
}

#[test]
fn pipeline_artifacts_cache_and_logs_use_the_project_key() {
    assert_policy(
        pipeline_encrypted_with_the_project_key,
        &[
            &[(
                "pipeline.tf",
                "encryption_key { id = aws_kms_key.main.arn type = \"KMS\" }",
                "\n",
            )],
            &[(
                "pipeline.tf",
                "service_role = aws_iam_role.pipeline_build[0].arn encryption_key = aws_kms_key.main.arn",
                "service_role = aws_iam_role.pipeline_build[0].arn\n",
            )],
            &[(
                "pipeline.tf",
                "sse_algorithm = \"aws:kms\" kms_master_key_id = aws_kms_key.main.arn } bucket_key_enabled = true } } resource \"aws_s3_bucket_lifecycle_configuration\" \"pipeline\"",
                "sse_algorithm = \"AES256\"\n }\n bucket_key_enabled = true\n }\n }\n resource \"aws_s3_bucket_lifecycle_configuration\" \"pipeline\"",
            )],
            &[(
                "pipeline.tf",
                "type = \"S3\" location = \"${aws_s3_bucket.pipeline[0].id}/cache/build\"",
                "type = \"LOCAL\"\n modes = [\"LOCAL_SOURCE_CACHE\"]",
            )],
            &[(
                "pipeline.tf",
                "retention_in_days = var.log_retention_days kms_key_id = aws_kms_key.main.arn",
                "retention_in_days = var.log_retention_days\n",
            )],
        ],
    );
}

fn pipeline_refresh_rolls_back(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    let prefs = match m.local("refresh_preferences") {
        Some(Expression::Object(o)) => o,
        _ => return Err("local.refresh_preferences (an object) missing".into()),
    };
    let get = |k: &str| {
        prefs
            .iter()
            .find(|(key, _)| {
                let name = match key {
                    hcl::expr::ObjectKey::Identifier(i) => i.to_string(),
                    hcl::expr::ObjectKey::Expression(e) => show(e),
                    _ => String::new(),
                };
                name.trim_matches('"') == k
            })
            .map(|(_, e)| e.clone())
    };
    v.check(
        get("AutoRollback").and_then(|e| m.boolean(&e)) == Some(true),
        || "AutoRollback must be true".into(),
    );
    v.check(
        get("MinHealthyPercentage").and_then(|e| m.number(&e)) == Some(100.0),
        || "MinHealthyPercentage must be 100 (new instances first)".into(),
    );
    let checkpoints = get("CheckpointPercentages").map(|e| m.resolve(&e));
    let points: Vec<f64> = match &checkpoints {
        Some(Expression::Array(a)) => a.iter().filter_map(|x| m.number(x)).collect(),
        _ => vec![],
    };
    v.check(
        points.len() >= 2
            && points.last() == Some(&100.0)
            && points.windows(2).all(|w| w[0] < w[1]),
        || format!("CheckpointPercentages must be increasing steps ending at 100, are {points:?}"),
    );
    let delay = get("CheckpointDelay").and_then(|e| m.number(&e));
    v.check(delay.is_some_and(|d| d >= 300.0), || {
        format!("CheckpointDelay must give the 5-minute alarms time to fire, is {delay:?}")
    });
    let alarms = get("AlarmSpecification")
        .map(|e| show(&e))
        .unwrap_or_default();
    let listed = m
        .local("refresh_alarms")
        .map(|e| show(&e))
        .unwrap_or_default();
    v.check(alarms.contains("local.refresh_alarms"), || {
        "AlarmSpecification must list local.refresh_alarms".into()
    });
    for a in [
        "aws_cloudwatch_metric_alarm.target_5xx",
        "aws_cloudwatch_metric_alarm.unhealthy_hosts",
    ] {
        v.check(listed.contains(a), || {
            format!("the refresh must roll back on {a}")
        });
    }
    let passed = m
        .resource("aws_codebuild_project", "deploy")
        .is_some_and(|d| {
            let mut all = vec![];
            all_attributes(d.body(), &mut all);
            all.iter().any(|(k, e)| {
                *k == "for_each"
                    && show(e).contains(
                        "NEWSREAD_REFRESH_PREFERENCES = jsonencode(local.refresh_preferences)",
                    )
            })
        });
    v.check(passed, || {
        "the deploy project must pass jsonencode(local.refresh_preferences) to the script".into()
    });
    let script = std::fs::read_to_string(terraform_dir().join("../aws/release-to-fleet"))
        .unwrap_or_default();
    v.check(
        script.contains("\"--preferences\", json.dumps(preferences)")
            && script.contains("\"--desired-configuration\", desired")
            && script.contains("fail(\"instance refresh %s ended %s"),
        || "release-to-fleet must start the refresh with those preferences and fail when it does not succeed".into(),
    );
    v.outcome()
}

#[test]
fn pipeline_refresh_has_checkpoints_and_rolls_back_on_both_alarms() {
    assert_policy(
        pipeline_refresh_rolls_back,
        &[
            &[("pipeline.tf", "AutoRollback = true", "AutoRollback = false")],
            &[(
                "pipeline.tf",
                "aws_cloudwatch_metric_alarm.target_5xx.alarm_name,",
                "",
            )],
            &[(
                "pipeline.tf",
                "aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name,",
                "",
            )],
            &[("variables.tf", "default = [25, 50, 100]", "default = [100]")],
            &[("variables.tf", "default = 360", "default = 60")],
            &[(
                "pipeline.tf",
                "MinHealthyPercentage = 100",
                "MinHealthyPercentage = 50",
            )],
        ],
    );
}

fn pipeline_optional_and_owns_the_release(tf: &Tf) -> Outcome {
    let m = tf.root();
    let mut v = Violations::new();
    v.check(
        matches!(
            m.var_default("enable_pipeline"),
            Some(Expression::Bool(false))
        ),
        || "enable_pipeline must default to false".into(),
    );
    // Everything in pipeline.tf exists only with the pipeline.
    for item in m.items.iter().filter(|i| i.file == "pipeline.tf") {
        if item.kind() != "resource" && item.kind() != "data" {
            continue;
        }
        let gate = attr(item.body(), "count")
            .or_else(|| attr(item.body(), "for_each"))
            .map(show)
            .unwrap_or_default();
        v.check(
            gate.contains("local.pipeline") || gate.contains("var.enable_pipeline"),
            || {
                format!(
                    "{} must exist only with enable_pipeline (count/for_each)",
                    item.address()
                )
            },
        );
    }
    // The release pointer: Terraform seeds it and then leaves it to the pipeline.
    let param = m.resource("aws_ssm_parameter", "release");
    v.check(
        param.is_some_and(|p| {
            block_path(p.body(), &["lifecycle"])
                .is_some_and(|l| attr_text(l, "ignore_changes").contains("insecure_value"))
        }),
        || {
            "aws_ssm_parameter.release must ignore changes to its value (the pipeline writes it)"
                .into()
        },
    );
    for field in ["sha256", "key", "version_id"] {
        let local = m
            .local(&format!("artifact_{field}"))
            .map(|e| show(&e))
            .unwrap_or_default();
        v.check(
            local.contains(&format!("var.enable_pipeline ? local.release.{field}")),
            || format!("local.artifact_{field} must come from the release parameter with the pipeline, is `{local}`"),
        );
    }
    let release = m.local("release").map(|e| show(&e)).unwrap_or_default();
    v.check(
        release.contains("jsondecode(aws_ssm_parameter.release[0].insecure_value)"),
        || "local.release must read the release parameter".into(),
    );
    v.outcome()
}

#[test]
fn pipeline_is_optional_and_an_apply_after_a_release_keeps_it() {
    assert_policy(
        pipeline_optional_and_owns_the_release,
        &[
            &[(
                "variables.tf",
                "type = bool default = false validation { condition = !var.enable_pipeline",
                "type = bool\n default = true\n validation {\n condition = !var.enable_pipeline",
            )],
            &[(
                "pipeline.tf",
                "ignore_changes = [insecure_value]",
                "ignore_changes = []",
            )],
            &[(
                "s3.tf",
                "artifact_version_id = var.enable_pipeline ? local.release.version_id : local.terraform_artifact_version_id",
                "artifact_version_id = local.terraform_artifact_version_id",
            )],
            &[(
                "pipeline.tf",
                "resource \"aws_codebuild_project\" \"deploy\" { count = local.pipeline",
                "resource \"aws_codebuild_project\" \"deploy\" {\n count = 1",
            )],
        ],
    );
}
