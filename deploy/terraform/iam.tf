# Instance role of the app servers: least privilege.
#   - SSM Session Manager (AmazonSSMManagedInstanceCore) for operator access;
#   - s3:GetObject on the artifact prefix only;
#   - secretsmanager:GetSecretValue on the exact secret ARNs only;
#   - kms:Decrypt on the data key only through Secrets Manager and S3;
#   - CloudWatch Logs writes to the app log group only.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = "${local.prefix}-app"
  description        = "NewsRead app servers"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_instance_profile" "app" {
  name = "${local.prefix}-app"
  role = aws_iam_role.app.name
}

resource "aws_iam_role_policy_attachment" "app_ssm" {
  role       = aws_iam_role.app.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

locals {
  app_secret_arns = compact([
    aws_db_instance.primary.master_user_secret[0].secret_arn,
    var.create_mediastack_secret ? aws_secretsmanager_secret.mediastack[0].arn : "",
  ])
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadReleaseArtifacts"
    actions   = ["s3:GetObject"]
    resources = [local.artifact_prefix_arn]
  }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secret_arns
  }

  statement {
    sid       = "DecryptThroughSecretsManagerAndS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteAppLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.app.arn, "${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "ReadCloudWatchAgentConfig"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.cloudwatch_agent.arn]
  }

  # PutMetricData has no resource-level permissions; the namespace condition
  # limits it to the agent's own namespace.
  statement {
    sid       = "PublishAgentMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.agent_metrics_namespace]
    }
  }

  # Used only by the optional TLS mount (efs_utils_deb_path): amazon-efs-utils
  # signs the mount with the instance role, through the access point only.
  statement {
    sid       = "MountSharedVolumeThroughAccessPoint"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.shared.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.shared.arn]
    }
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "newsread-app"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}
