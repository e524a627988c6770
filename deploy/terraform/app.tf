# App tier: launch template (Ubuntu 24.04 LTS, IMDSv2 only, encrypted root
# volume, instance profile, cloud-init user data) and an Auto Scaling group
# over the private app subnets behind the ALB.

locals {
  db_url_scheme = var.db_engine == "postgres" ? "postgres" : "mysql"
  db_url_tls    = var.db_engine == "postgres" ? "sslmode=require" : "ssl-mode=required"

  # The whole runtime configuration of newsread. Only secret ARNs appear here,
  # never a secret value: the app reads the values from Secrets Manager.
  app_environment = merge(
    {
      NEWSREAD_LISTEN               = "0.0.0.0:${var.app_port}"
      NEWSREAD_DATABASE_URL         = "${local.db_url_scheme}://${aws_db_instance.primary.address}:${local.db_port}/${local.db_name}?${local.db_url_tls}"
      NEWSREAD_DATABASE_REPLICA_URL = "${local.db_url_scheme}://${aws_db_instance.replica.address}:${local.db_port}/${local.db_name}?${local.db_url_tls}"
      NEWSREAD_DATABASE_SECRET_ARN  = aws_db_instance.primary.master_user_secret[0].secret_arn
      AWS_REGION                    = local.region
      NEWSREAD_LOG_FORMAT           = "json"
      NEWSREAD_SHUTDOWN_GRACE       = "${var.app_shutdown_grace_seconds}s"
      NEWSREAD_TRUSTED_PROXIES      = var.vpc_cidr
      NEWSREAD_SHARED_DIR           = local.shared_dir
      NEWSREAD_INGEST_INTERVAL      = var.app_ingest_interval
      NEWSREAD_METRICS_LISTEN       = local.metrics_listen
    },
    var.create_mediastack_secret ? { NEWSREAD_MEDIASTACK_SECRET_ARN = aws_secretsmanager_secret.mediastack[0].arn } : {},
  )
}

module "user_data" {
  source = "./modules/app-user-data"

  artifact_endpoint    = aws_s3_bucket.artifacts.bucket_regional_domain_name
  artifact_region      = local.region
  artifact_key         = local.artifact_key
  artifact_sha256      = local.artifact_sha256
  app_uid              = var.app_uid
  environment          = local.app_environment
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

resource "aws_autoscaling_group" "app" {
  name                      = "${local.prefix}-app"
  min_size                  = var.asg_min_size
  desired_capacity          = var.asg_desired_capacity
  max_size                  = var.asg_max_size
  vpc_zone_identifier       = aws_subnet.private_app[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
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

  # Any change to the launch template (new binary checksum in the user data,
  # new AMI, new configuration) starts a rolling replacement: new instances
  # first (max 150%), old ones leave only once the new ones pass /readyz, and a
  # failed refresh rolls back to the previous launch template version.
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
    aws_s3_object.efs_utils,
    aws_efs_mount_target.shared,
    aws_route.private_app_nat,
    aws_ssm_association.cloudwatch_agent,
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
