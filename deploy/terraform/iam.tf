# Instance role of the app servers: least privilege.
#   - the SSM agent (Session Manager, State Manager for the CloudWatch agent)
#     through explicit statements, not AmazonSSMManagedInstanceCore, which
#     also grants ssm:GetParameter(s) on every parameter of the account;
#   - s3:GetObject(Version) on the artifact prefix only;
#   - secretsmanager:GetSecretValue on the exact secret ARNs only, and
#     PutSecretValue on the app's own database credential (rotation);
#   - KMS only through Secrets Manager and S3;
#   - CloudWatch Logs writes to the app log group only;
#   - completing its own launch lifecycle action (readiness gate).

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

locals {
  # Read by the instances: the RDS-managed master secret (migration unit only),
  # the app's own database credential, the optional mediastack key.
  app_secret_arns = compact([
    aws_db_instance.primary.master_user_secret[0].secret_arn,
    aws_secretsmanager_secret.db_app.arn,
    var.create_mediastack_secret ? aws_secretsmanager_secret.mediastack[0].arn : "",
  ])
  app_asg_name = "${local.prefix}-app"
  app_asg_arn  = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.app_asg_name}"

  # The SSM documents the agent on the app servers runs: the CloudWatch agent
  # association (ours) and the two AWS-owned documents it calls.
  ssm_document_arns = [
    aws_ssm_document.cloudwatch_agent.arn,
    "arn:${local.partition}:ssm:${local.region}::document/AWS-ConfigureAWSPackage",
    "arn:${local.partition}:ssm:${local.region}::document/AmazonCloudWatch-ManageAgent",
  ]
}

data "aws_iam_policy_document" "app" {
  #checkov:skip=CKV_AWS_111:The only "*" statement holds SSM agent State Manager actions that have no resource-level permissions (ListAssociations, UpdateInstanceAssociationStatus, PutComplianceItems, PutConfigurePackageResult...); every write elsewhere names its resource.
  #checkov:skip=CKV_AWS_356:"*" only for SSM agent actions without resource-level permissions and for PutMetricData under a namespace condition; everything else names exact ARNs.
  # Versions: the user data names the exact release version.
  statement {
    sid       = "ReadReleaseArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.artifact_prefix_arn]
  }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secret_arns
  }

  # newsread rotate-db-credential stores the new password it set on the role.
  statement {
    sid       = "RotateAppDatabaseCredential"
    actions   = ["secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.db_app.arn]
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

  # PutSecretValue encrypts the new value with the CMK.
  statement {
    sid       = "EncryptThroughSecretsManager"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  # Launch readiness gate: the instance enters service only once its own
  # /readyz answers (docs/deploy-aws.md, rolling deploys).
  statement {
    sid       = "CompleteOwnLaunchLifecycleAction"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = [local.app_asg_arn]
  }

  # ---- SSM agent, State Manager part (the CloudWatch agent association).
  # These actions have no resource-level permissions, hence "*".
  statement {
    sid = "SsmAgentStateManager"
    actions = [
      "ssm:ListAssociations",
      "ssm:ListInstanceAssociations",
      "ssm:DescribeAssociation",
      "ssm:UpdateAssociationStatus",
      "ssm:UpdateInstanceAssociationStatus",
      "ssm:PutComplianceItems",
      "ssm:PutConfigurePackageResult",
      "ssm:GetManifest",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SsmAgentReadsItsDocuments"
    actions   = ["ssm:GetDocument", "ssm:DescribeDocument"]
    resources = local.ssm_document_arns
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

# What the SSM agent needs to register the instance and carry Session Manager
# sessions and Run Command messages: the part of AmazonSSMManagedInstanceCore
# that does not read parameters or documents. Shared by the app servers and
# the bastion. The message actions have no resource-level permissions.
data "aws_iam_policy_document" "ssm_agent" {
  statement {
    sid = "SsmAgentChannels"
    actions = [
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
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SsmAgentRegistersThisInstance"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]
  }
}

resource "aws_iam_role_policy" "app_ssm_agent" {
  name   = "ssm-agent"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.ssm_agent.json
}
