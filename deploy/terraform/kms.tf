# One customer managed key (rotated yearly) encrypts the data tier and the
# operational data: RDS storage and Performance Insights, the RDS-managed
# master secret and the mediastack secret, EFS, the artifact bucket, CloudWatch
# log groups and the alarm SNS topic. EBS root volumes use the account's
# aws/ebs key, which the Auto Scaling service-linked role can always use (a CMK
# would need that role in its key policy, and it may not exist yet in a new
# account).

resource "aws_kms_key" "main" {
  description             = "${local.prefix}: RDS, Secrets Manager, EFS, S3 artifacts, CloudWatch Logs, SNS"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_main.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# A key policy's Resource "*" means "this key": it cannot name anything else.
data "aws_iam_policy_document" "kms_main" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" is this key only; the account statement delegates to IAM as AWS's default key policy does.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is this key only; write access is limited to the account (IAM) and the named services with conditions.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only valid resource in a key policy and means this key.
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # The pipeline's roles (pipeline.tf, enable_pipeline): artifacts, the
  # build cache and releases, through S3 only. Their IAM policies grant the
  # same; this names them in the key policy too.
  dynamic "statement" {
    for_each = var.enable_pipeline ? [1] : []

    content {
      sid       = "PipelineRolesThroughS3"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.pipeline[0].arn, aws_iam_role.pipeline_build[0].arn, aws_iam_role.pipeline_deploy[0].arn]
      }

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}
