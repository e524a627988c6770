# App tier: launch template (Ubuntu 24.04 LTS, IMDSv2 only, encrypted root
# volume, instance profile, cloud-init user data) and an Auto Scaling group
# over the private app subnets behind the ALB.

locals {
  db_url_scheme = var.db_engine == "postgres" ? "postgres" : "mysql"
  db_url_tls    = var.db_engine == "postgres" ? "sslmode=require" : "ssl-mode=required"

  db_url         = "${local.db_url_scheme}://${aws_db_instance.primary.address}:${local.db_port}/${local.db_name}?${local.db_url_tls}"
  db_replica_url = "${local.db_url_scheme}://${aws_db_instance.replica.address}:${local.db_port}/${local.db_name}?${local.db_url_tls}"

  # The whole runtime configuration of `newsread serve`. Only secret ARNs
  # appear here, never a secret value: the app reads the values from Secrets
  # Manager. The web servers connect as their own least-privilege role (the
  # app credential secret) and run no DDL; the master secret is not here.
  app_environment = merge(
    {
      NEWSREAD_LISTEN               = "0.0.0.0:${var.app_port}"
      NEWSREAD_DATABASE_URL         = local.db_url
      NEWSREAD_DATABASE_REPLICA_URL = local.db_replica_url
      NEWSREAD_DATABASE_SECRET_ARN  = aws_secretsmanager_secret.db_app.arn
      NEWSREAD_MIGRATE_ON_START     = "false"
      AWS_REGION                    = local.region
      NEWSREAD_LOG_FORMAT           = "json"
      NEWSREAD_SHUTDOWN_GRACE       = "${var.app_shutdown_grace_seconds}s"
      NEWSREAD_TRUSTED_PROXIES      = var.vpc_cidr
      NEWSREAD_SHARED_DIR           = local.shared_dir
      NEWSREAD_INGEST_INTERVAL      = var.app_ingest_interval
      NEWSREAD_METRICS_LISTEN       = local.metrics_listen
    },
    var.create_mediastack_secret ? { NEWSREAD_MEDIASTACK_SECRET_ARN = aws_secretsmanager_secret.mediastack[0].arn } : {},
    # Behind CloudFront the ALB sees CloudFront's addresses; the viewer's is
    # in the CloudFront-Viewer-Address header (edge.tf origin request policy).
    local.edge_enabled ? { NEWSREAD_CLIENT_ADDRESS_HEADER = "CloudFront-Viewer-Address" } : {},
  )

  # `newsread migrate` (newsread-migrate.service, before serve on every boot):
  # applies migrations as the master user, then creates or updates the app's
  # role from the app credential secret. Its own EnvironmentFile, unreadable
  # by the web server's unit.
  migrate_environment = {
    NEWSREAD_DATABASE_URL              = local.db_url
    NEWSREAD_DATABASE_ADMIN_SECRET_ARN = aws_db_instance.primary.master_user_secret[0].secret_arn
    NEWSREAD_DATABASE_SECRET_ARN       = aws_secretsmanager_secret.db_app.arn
    AWS_REGION                         = local.region
    NEWSREAD_LOG_FORMAT                = "json"
  }

  launch_hook_name = "${local.prefix}-app-ready"
}

module "user_data" {
  source = "./modules/app-user-data"

  artifact_endpoint    = aws_s3_bucket.artifacts.bucket_regional_domain_name
  artifact_region      = local.region
  artifact_key         = local.artifact_key
  artifact_version_id  = local.artifact_version_id
  artifact_sha256      = local.artifact_sha256
  app_uid              = var.app_uid
  app_port             = var.app_port
  environment          = local.app_environment
  migrate_environment  = local.migrate_environment
  asg_name             = local.app_asg_name
  launch_hook_name     = local.launch_hook_name
  shared_dir           = local.shared_dir
  efs_dns_name         = aws_efs_file_system.shared.dns_name
  efs_file_system_id   = aws_efs_file_system.shared.id
  efs_access_point_id  = aws_efs_access_point.shared.id
  efs_utils_deb_key    = local.efs_utils_deb_key
  efs_utils_deb_sha256 = local.efs_utils_deb_sha
  log_file             = local.app_log_file
  timeout_stop_sec     = local.timeout_stop_secs
}

resource "aws_launch_template" "app" {
  name_prefix            = "${local.prefix}-app-"
  description            = "NewsRead app server (Ubuntu 24.04 LTS, ${var.architecture})"
  image_id               = local.ami_id
  instance_type          = local.app_instance_type
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.app.id]
  user_data              = base64gzip(module.user_data.cloud_config)

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  # IMDSv2 only, one hop: containers or forwarded requests cannot reach it.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  # One-minute metrics so target tracking reacts quickly.
  monitoring {
    enabled = true
  }

  # Burstable types only (the default family is not): the credit mode is a
  # deliberate choice, priced in docs/deploy-aws.md.
  dynamic "credit_specification" {
    for_each = local.app_burstable ? [var.burstable_credit_mode] : []

    content {
      cpu_credits = credit_specification.value
    }
  }

  block_device_mappings {
    device_name = "/dev/sda1"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.app_root_volume_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.common_tags, { Name = "${local.prefix}-app" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${local.prefix}-app" })
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Health: replacement follows the instance's liveness, never the database.
#   - EC2 health checks only: the group replaces an instance only when EC2
#     says it is impaired or stopped. On the instance, systemd restarts
#     newsread when it exits, and newsread-liveness.timer restarts it when
#     /healthz (which never touches the database) stops answering; an
#     instance that cannot keep newsread alive powers itself off, and the
#     group replaces it.
#   - The target group routes on /readyz (alb.tf): during an RDS failover or
#     a minor-version upgrade instances leave and re-enter the rotation, but
#     none is terminated. With "ELB" the group would terminate every instance
#     about 20 s into the failover.
#   - Rolling deploys stay safe: a launching instance waits in
#     Pending:Wait (launch lifecycle hook) until its own /readyz answers 200,
#     and only then completes the hook (newsread-launch-gate.service); an
#     instance that never gets ready is abandoned (terminated) after
#     launch_ready_timeout_seconds, the refresh fails and rolls back.
resource "aws_autoscaling_group" "app" {
  name                      = local.app_asg_name
  min_size                  = var.asg_min_size
  desired_capacity          = var.asg_desired_capacity
  max_size                  = var.asg_max_size
  vpc_zone_identifier       = aws_subnet.private_app[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "EC2"
  health_check_grace_period = 300
  default_instance_warmup   = 120
  wait_for_capacity_timeout = "20m"
  termination_policies      = ["OldestLaunchTemplate", "OldestInstance"]
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # In place from the first launch (a separate aws_autoscaling_lifecycle_hook
  # would miss the instances the group starts at creation).
  initial_lifecycle_hook {
    name                 = local.launch_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = var.launch_ready_timeout_seconds
  }

  # Any change to the launch template (new binary version in the user data,
  # new AMI, new configuration) starts a rolling replacement: new instances
  # first (max 150%); an instance counts as launched only after the launch
  # gate saw its /readyz answer 200, then warms up for instance_warmup; old
  # ones leave only then. A new instance abandoned by the gate, or the
  # unhealthy-targets alarm firing during the refresh, fails it, and it rolls
  # back to the previous launch template version (whose binary version the
  # artifact bucket keeps).
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage       = 100
      max_healthy_percentage       = 150
      instance_warmup              = 120
      skip_matching                = true
      auto_rollback                = true
      scale_in_protected_instances = "Refresh"
      standby_instances            = "Terminate"

      alarm_specification {
        alarms = [aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name]
      }
    }
  }

  tag {
    key                 = "Name"
    value               = "${local.prefix}-app"
    propagate_at_launch = true
  }

  # Targets the CloudWatch agent association (ssm.tf).
  tag {
    key                 = "NewsreadDeployment"
    value               = "${local.prefix}-app"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.common_tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Target tracking owns the desired capacity after creation.
    ignore_changes = [desired_capacity]
  }

  depends_on = [
    aws_s3_object.binary,
    aws_secretsmanager_secret_version.db_app,
    aws_iam_role_policy.app,
    aws_iam_role_policy.app_ssm_agent,
    aws_s3_object.efs_utils,
    aws_efs_mount_target.shared,
    aws_route.private_app_nat,
  ]
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${local.prefix}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}

resource "aws_autoscaling_policy" "requests" {
  name                   = "${local.prefix}-requests-target"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.app.arn_suffix}/${aws_lb_target_group.app.arn_suffix}"
    }
    target_value = var.requests_per_target
  }
}
