variable "artifact_endpoint" {
  description = "Regional virtual-hosted S3 endpoint of the artifact bucket (bucket.s3.region.amazonaws.com)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\\.s3(\\.[a-z0-9-]+)?\\.amazonaws\\.com(\\.cn)?$", var.artifact_endpoint))
    error_message = "artifact_endpoint must be a bucket's regional S3 domain name (no dots in the bucket name)."
  }
}

variable "artifact_region" {
  description = "Region of the artifact bucket (SigV4 signing scope)."
  type        = string
}

variable "artifact_key" {
  description = "S3 key of the newsread binary, under releases/."
  type        = string

  validation {
    condition     = can(regex("^releases/[A-Za-z0-9._/-]+$", var.artifact_key))
    error_message = "artifact_key must be under releases/."
  }
}

variable "artifact_version_id" {
  description = "S3 version ID of the binary to fetch (empty: the current version of artifact_key). Pinning it keeps an older launch template version on its own binary."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.artifact_version_id))
    error_message = "artifact_version_id must be empty or an S3 version ID."
  }
}

variable "artifact_sha256" {
  description = "Hex SHA-256 the downloaded binary must match."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.artifact_sha256))
    error_message = "artifact_sha256 must be 64 lower-case hex digits."
  }
}

variable "app_uid" {
  description = "uid and gid of the newsread system user (same as the EFS access point's POSIX user)."
  type        = number
}

variable "environment" {
  description = "Variables written to the service's EnvironmentFile. Secret values are refused: only secret ARNs may appear."
  type        = map(string)

  validation {
    condition     = alltrue([for k, v in var.environment : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "environment keys must be upper-case shell identifiers."
  }

  validation {
    condition = alltrue([
      for k, v in var.environment :
      endswith(k, "_ARN") || !can(regex("(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", k))
    ])
    error_message = "environment must not carry secret values: pass a Secrets Manager ARN in a *_ARN variable instead."
  }

  validation {
    condition = alltrue([
      for k, v in var.environment :
      !endswith(k, "_SECRET_ARN") || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$", v))
    ])
    error_message = "every *_SECRET_ARN variable must hold a Secrets Manager secret ARN."
  }

  validation {
    condition     = alltrue([for k, v in var.environment : can(regex("^[A-Za-z0-9._:/?&=%@,+!-]*$", v)) && !can(regex("://[^/@]*@", v))])
    error_message = "environment values may only use URL-safe characters, and URLs must not embed credentials (user:password@host)."
  }
}

variable "migrate_environment" {
  description = "Variables of newsread-migrate.service (own EnvironmentFile, root-only, hidden from the web server). Secret values are refused: only secret ARNs may appear."
  type        = map(string)

  validation {
    condition     = alltrue([for k, v in var.migrate_environment : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "migrate_environment keys must be upper-case shell identifiers."
  }

  validation {
    condition = alltrue([
      for k, v in var.migrate_environment :
      endswith(k, "_ARN") || !can(regex("(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", k))
    ])
    error_message = "migrate_environment must not carry secret values: pass a Secrets Manager ARN in a *_ARN variable instead."
  }

  validation {
    condition = alltrue([
      for k, v in var.migrate_environment :
      !endswith(k, "_SECRET_ARN") || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$", v))
    ])
    error_message = "migrate_environment: every *_SECRET_ARN variable must hold a Secrets Manager secret ARN."
  }

  validation {
    condition     = alltrue([for k, v in var.migrate_environment : can(regex("^[A-Za-z0-9._:/?&=%@,+!-]*$", v)) && !can(regex("://[^/@]*@", v))])
    error_message = "migrate_environment values may only use URL-safe characters, and URLs must not embed credentials (user:password@host)."
  }
}

variable "shared_dir" {
  description = "Mount point of the shared EFS volume (NEWSREAD_SHARED_DIR)."
  type        = string
}

variable "efs_dns_name" {
  description = "DNS name of the EFS file system (fs-....efs.<region>.amazonaws.com)."
  type        = string
}

variable "efs_file_system_id" {
  description = "EFS file system ID (fs-...)."
  type        = string
}

variable "efs_access_point_id" {
  description = "EFS access point ID (fsap-...), used by the TLS mount."
  type        = string
}

variable "efs_utils_deb_key" {
  description = "S3 key of a prebuilt amazon-efs-utils .deb; empty selects the kernel NFS client without TLS."
  type        = string
  default     = ""
}

variable "efs_utils_deb_sha256" {
  description = "SHA-256 of the amazon-efs-utils .deb."
  type        = string
  default     = ""

  validation {
    condition     = var.efs_utils_deb_key == "" || can(regex("^[0-9a-f]{64}$", var.efs_utils_deb_sha256))
    error_message = "efs_utils_deb_sha256 must be set with efs_utils_deb_key."
  }
}

variable "log_file" {
  description = "File rsyslog copies newsread's log lines into, tailed by the CloudWatch agent."
  type        = string
}

variable "timeout_stop_sec" {
  description = "systemd TimeoutStopSec of the service: longer than the ALB deregistration delay and the app's drain."
  type        = number

  validation {
    condition     = var.timeout_stop_sec >= 30
    error_message = "timeout_stop_sec must be at least 30 seconds."
  }
}

variable "install_dir" {
  description = "Directory the binary is installed under (bin/newsread)."
  type        = string
  default     = "/opt/newsread"
}

variable "app_port" {
  description = "Port newsread listens on: the liveness watchdog and the launch gate probe /healthz and /readyz on 127.0.0.1 there."
  type        = number

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be between 1024 and 65535."
  }
}

variable "asg_name" {
  description = "Name of the Auto Scaling group whose launch lifecycle hook the launch gate completes."
  type        = string
}

variable "launch_hook_name" {
  description = "Name of the launch lifecycle hook (autoscaling:EC2_INSTANCE_LAUNCHING) the launch gate completes once /readyz answers 200."
  type        = string
}

variable "launch_gate_timeout_sec" {
  description = "Seconds the launch gate waits for /readyz before abandoning the launch; keep it below the hook's heartbeat timeout."
  type        = number
  default     = 840
}
