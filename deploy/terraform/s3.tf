# Two buckets: "logs" receives ALB, CloudFront and S3 server access logs;
# "artifacts" holds the release binaries the instances download at boot.

# ------------------------------------------------------------ log bucket ---

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_144:Access logs are operational data with a fixed expiry; a second-region copy is not worth its cost.
  #checkov:skip=CKV_AWS_145:ALB access log delivery supports only SSE-S3, so the bucket uses SSE-S3 (AES-256) rather than KMS.
  bucket        = "${local.prefix}-logs-${local.account_id}-${local.region}"
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# CloudFront standard logging writes through ACLs, so ACLs stay enabled with
# the bucket owner preferred; the public access block still refuses public ACLs.
resource "aws_s3_bucket_ownership_controls" "logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logs are delivered with an ACL grant; BucketOwnerEnforced would make delivery fail.
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# ELB log delivery: the regional ELB account (older regions) and the log
# delivery service principal (regions opened since August 2022).
data "aws_elb_service_account" "this" {}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "ElbAccountWritesAlbLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "ElbLogDeliveryWritesAlbLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogging"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/artifacts/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # The pipeline bucket's access logs (pipeline.tf, enable_pipeline).
  dynamic "statement" {
    for_each = var.enable_pipeline ? [1] : []

    content {
      sid       = "S3ServerAccessLoggingPipeline"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.logs.arn}/s3/pipeline/*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

# Object events go to EventBridge (no cost unless a rule consumes them), so
# audit or automation can subscribe without touching the bucket.
resource "aws_s3_bucket_notification" "logs" {
  bucket      = aws_s3_bucket.logs.id
  eventbridge = true
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# ------------------------------------------------------- artifact bucket ---

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Release binaries are rebuilt from the repository and versioned here; a cross-region replica adds cost without a recovery need.
  bucket        = "${local.prefix}-artifacts-${local.account_id}-${local.region}"
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "tidy-old-versions"
    status = "Enabled"

    filter {}

    # Earlier releases stay fetchable for rollbacks (instance refresh
    # auto-rollback, an older launch template version): the newest
    # artifact_releases_kept noncurrent versions are never expired, older
    # ones after 90 days. Lifecycle expires releases, Terraform never does.
    noncurrent_version_expiration {
      noncurrent_days           = 90
      newer_noncurrent_versions = var.artifact_releases_kept
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/artifacts/"

  # S3 checks at PutBucketLogging that the target bucket lets the logging
  # service write (InvalidTargetBucketForLogging otherwise): its policy first.
  depends_on = [aws_s3_bucket_policy.logs]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_notification" "artifacts" {
  bucket      = aws_s3_bucket.artifacts.id
  eventbridge = true
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# --------------------------------------------------------------- release ---

locals {
  # One key, many versions: a new build is a new version of
  # releases/newsread (updated in place, so Terraform never deletes an older
  # version, as replacing the object would: provider 5.x deletes every version
  # of a key it destroys). The user data names the exact version and its
  # SHA-256, so a new build means a new launch template version, and an older
  # launch template version (rollback) still fetches its own binary until the
  # lifecycle rule expires it.
  #
  # With enable_pipeline the pipeline owns the release: these seed the release
  # parameter once (pipeline.tf), and the user data renders what that
  # parameter says now (local.release), so an apply after a pipeline release
  # renders the pipeline's binary, not this one.
  terraform_artifact_sha256     = var.artifact_path != "" ? filesha256(var.artifact_path) : var.artifact_sha256
  terraform_artifact_key        = var.artifact_path != "" ? "releases/newsread" : var.artifact_s3_key
  terraform_artifact_version_id = var.artifact_path != "" ? aws_s3_object.binary[0].version_id : var.artifact_s3_version_id

  artifact_sha256     = var.enable_pipeline ? local.release.sha256 : local.terraform_artifact_sha256
  artifact_key        = var.enable_pipeline ? local.release.key : local.terraform_artifact_key
  artifact_version_id = var.enable_pipeline ? local.release.version_id : local.terraform_artifact_version_id

  efs_tls             = var.efs_utils_deb_path != ""
  efs_utils_deb_sha   = local.efs_tls ? filesha256(var.efs_utils_deb_path) : ""
  efs_utils_deb_key   = local.efs_tls ? "releases/amazon-efs-utils-${local.efs_utils_deb_sha}.deb" : ""
  artifact_prefix_arn = "${aws_s3_bucket.artifacts.arn}/releases/*"
}

resource "aws_s3_object" "binary" {
  count = var.artifact_path != "" ? 1 : 0

  bucket                 = aws_s3_bucket.artifacts.id
  key                    = local.terraform_artifact_key
  source                 = var.artifact_path
  source_hash            = local.terraform_artifact_sha256
  content_type           = "application/octet-stream"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.main.arn
  metadata               = { sha256 = local.terraform_artifact_sha256 }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_object" "efs_utils" {
  count = local.efs_tls ? 1 : 0

  bucket                 = aws_s3_bucket.artifacts.id
  key                    = local.efs_utils_deb_key
  source                 = var.efs_utils_deb_path
  source_hash            = local.efs_utils_deb_sha
  content_type           = "application/vnd.debian.binary-package"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.main.arn
  metadata               = { sha256 = local.efs_utils_deb_sha }
}
