# Shared file system (NEWSREAD_SHARED_DIR): encrypted with the CMK, a mount
# target in each zone's data subnet, an access point that pins the POSIX
# identity and root directory, and AWS Backup through the backup policy.

resource "aws_efs_file_system" "shared" {
  creation_token   = "${local.prefix}-shared"
  encrypted        = true
  kms_key_id       = aws_kms_key.main.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  lifecycle_policy {
    transition_to_primary_storage_class = "AFTER_1_ACCESS"
  }

  tags = { Name = "${local.prefix}-shared" }
}

resource "aws_efs_backup_policy" "shared" {
  file_system_id = aws_efs_file_system.shared.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "shared" {
  count = 3

  file_system_id  = aws_efs_file_system.shared.id
  subnet_id       = aws_subnet.private_data[count.index].id
  security_groups = [aws_security_group.efs.id]
}

# Every request through the access point runs as uid/gid var.app_uid inside
# /newsread, whatever the client sends. The instances create the same user
# and, in the default (kernel NFS client) mode, mount the same directory.
resource "aws_efs_access_point" "shared" {
  file_system_id = aws_efs_file_system.shared.id

  posix_user {
    uid = var.app_uid
    gid = var.app_uid
  }

  root_directory {
    path = "/newsread"

    creation_info {
      owner_uid   = var.app_uid
      owner_gid   = var.app_uid
      permissions = "0750"
    }
  }

  tags = { Name = "${local.prefix}-shared" }
}

# With the optional amazon-efs-utils package (efs_utils_deb_path) every mount
# is TLS + IAM through the access point, so the file system can refuse
# anything else. Without it the kernel NFS client cannot meet this policy, so
# none is attached (see docs/deploy-aws.md, "EFS and encryption in transit").
data "aws_iam_policy_document" "efs" {
  statement {
    sid       = "DenyUnencryptedTransport"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.shared.arn]

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
    sid       = "AppMountsThroughAccessPoint"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.shared.arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.app.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.shared.arn]
    }
  }
}

resource "aws_efs_file_system_policy" "shared" {
  count = local.efs_tls ? 1 : 0

  file_system_id = aws_efs_file_system.shared.id
  policy         = data.aws_iam_policy_document.efs.json
}
