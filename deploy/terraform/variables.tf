# Input variables. Every variable has a description and, where a wrong value
# would only fail late inside AWS, a validation block that fails at plan time.
# Cross-variable validations need Terraform >= 1.9 (pinned in versions.tf).

# ---------------------------------------------------------------- general ---

variable "region" {
  description = "AWS region to deploy into (e.g. eu-west-1). null uses AWS_REGION or the profile's region. The region must have at least three availability zones."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. eu-west-1."
  }
}

variable "name" {
  description = "Short name used as a prefix for every resource name."
  type        = string
  default     = "newsread"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}$", var.name))
    error_message = "name must be 2-14 characters: lower-case letters, digits and hyphens, starting with a letter (bucket names must stay within 63 characters)."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, trial...), part of every resource name and tag."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters or digits, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (through the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------- network ---

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /18. It is cut into 16 blocks: block 0 holds the three public subnets (ALB, NAT), blocks 1-3 the private app subnets, blocks 8-10 the private data subnets."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix length between /16 and /18 (an ALB subnet needs at least a /27)."
  }
}

variable "single_nat_gateway" {
  description = "true: one NAT gateway for all three zones (cheaper, but app instances lose internet egress if that zone fails). false: one NAT gateway per zone (default, highly available)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (app logs, VPC flow logs, RDS exports, WAF). 365 keeps one year, as most audit baselines ask."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "access_log_retention_days" {
  description = "Days to keep ALB/CloudFront/S3 access logs in the log bucket before they expire."
  type        = number
  default     = 90

  validation {
    condition     = var.access_log_retention_days >= 1 && var.access_log_retention_days <= 3650
    error_message = "access_log_retention_days must be between 1 and 3650."
  }
}

# ------------------------------------------------------------ edge / DNS ---

variable "domain_name" {
  description = "Public host name of the site (e.g. news.example.com). Empty: no CloudFront, no certificate, and the ALB answers plain HTTP on its own DNS name (for trials only). Set: ACM certificates with DNS validation, CloudFront in front of an HTTPS-only ALB, Route 53 aliases."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_name == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be empty or a lower-case DNS name such as news.example.com (no wildcard, no trailing dot)."
  }
}

variable "route53_zone_id" {
  description = "ID of the public Route 53 hosted zone that holds domain_name. Required when domain_name is set."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_name == "" || can(regex("^[A-Z0-9]{8,32}$", var.route53_zone_id))
    error_message = "route53_zone_id must be set to a hosted zone ID (upper-case letters and digits, e.g. Z0123456789ABCDEFGHIJ) when domain_name is set."
  }
}

variable "alb_restrict_to_cloudfront" {
  description = "With a domain: allow HTTPS into the ALB only from CloudFront's origin-facing managed prefix list (default). false opens 443 to alb_ingress_cidrs; the secret origin header still answers 403 to anything that is not CloudFront."
  type        = bool
  default     = true
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the ALB listeners when they are not restricted to CloudFront (always the case without a domain)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0)) && !can(regex(":", c))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDRs."
  }
}

variable "cloudfront_price_class" {
  description = "CloudFront price class: PriceClass_100 (North America, Europe, Israel), PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cloudfront_price_class)
    error_message = "cloudfront_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "enable_waf" {
  description = "Attach an AWS WAF web ACL (AWS managed rule groups plus a per-IP rate limit) to the CloudFront distribution. Needs domain_name."
  type        = bool
  default     = false

  validation {
    condition     = !var.enable_waf || var.domain_name != ""
    error_message = "enable_waf needs domain_name: the web ACL is attached to CloudFront, which only exists with a domain."
  }
}

variable "waf_rate_limit_per_5min" {
  description = "WAF rate-based rule: maximum requests from one IP in any 5-minute window before it is blocked."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit_per_5min >= 100 && var.waf_rate_limit_per_5min <= 2000000000
    error_message = "waf_rate_limit_per_5min must be between 100 and 2,000,000,000."
  }
}

variable "origin_header_active" {
  description = "Which of the two generated origin secrets (a or b) CloudFront sends in the origin header. The ALB accepts both, so the secret rotates without a 403 window (see docs/deploy-aws.md)."
  type        = string
  default     = "a"

  validation {
    condition     = contains(["a", "b"], var.origin_header_active)
    error_message = "origin_header_active must be \"a\" or \"b\"."
  }
}

# ------------------------------------------------------------------- ALB ---

variable "alb_deletion_protection" {
  description = "Enable deletion protection on the load balancer. Turn off (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "alb_deregistration_delay_seconds" {
  description = "Seconds the ALB keeps draining a deregistered target. Must exceed app_shutdown_grace_seconds so in-flight requests finish before the instance goes."
  type        = number
  default     = 45

  validation {
    condition     = var.alb_deregistration_delay_seconds > var.app_shutdown_grace_seconds && var.alb_deregistration_delay_seconds <= 3600
    error_message = "alb_deregistration_delay_seconds must be greater than app_shutdown_grace_seconds and at most 3600."
  }
}

# -------------------------------------------------------------- app tier ---

variable "architecture" {
  description = "CPU architecture of the newsread binary and so of the instances: x86_64 (default, what cargo build --release makes on an x86_64 Debian 12 host) or arm64 (Graviton; cross-compile for aarch64-unknown-linux-gnu)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "app_instance_type" {
  description = "EC2 instance type of the app servers. null picks c7a.medium for x86_64 and c7g.medium for arm64 (one non-burstable vCPU, 2 GiB). It must match architecture. A burstable type (t3, t4g...) runs in unlimited credit mode and pays surplus credits above its baseline (see burstable_credit_mode and the cost table in docs/deploy-aws.md)."
  type        = string
  default     = null

  validation {
    condition     = var.app_instance_type == null || can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.app_instance_type))
    error_message = "app_instance_type must look like an EC2 instance type, e.g. t3.small."
  }
}

variable "burstable_credit_mode" {
  description = "CPU credit mode when app_instance_type is burstable (t2/t3/t3a/t4g): unlimited (default; scaling at cpu_target_percent above the baseline bills surplus credits at $0.05 per vCPU-hour on Linux) or standard (no surcharge, but CPU is throttled to the baseline once the credits are spent). Ignored for other families."
  type        = string
  default     = "unlimited"

  validation {
    condition     = contains(["standard", "unlimited"], var.burstable_credit_mode)
    error_message = "burstable_credit_mode must be standard or unlimited."
  }
}

variable "ami_generation" {
  description = "Any string (e.g. a date). With ami_id = null the Ubuntu 24.04 AMI is resolved from Canonical's SSM parameter once and kept; change this value to resolve the current image again, which then rolls out through the instance refresh. Nothing else moves the AMI."
  type        = string
  default     = "1"
}

variable "ami_id" {
  description = "Pin an explicit AMI ID. null (default) resolves Canonical's current Ubuntu 24.04 LTS AMI once and keeps it in state (see ami_generation); a newer image never rolls the fleet by itself."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID (ami-...)."
  }
}

variable "app_root_volume_gb" {
  description = "Size in GiB of each app instance's encrypted gp3 root volume."
  type        = number
  default     = 16

  validation {
    condition     = var.app_root_volume_gb >= 8 && var.app_root_volume_gb <= 1024
    error_message = "app_root_volume_gb must be between 8 and 1024."
  }
}

variable "app_port" {
  description = "TCP port newsread listens on (NEWSREAD_LISTEN) and the target group forwards to."
  type        = number
  default     = 5000

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535 && var.app_port != 9464
    error_message = "app_port must be an unprivileged port (1024-65535) other than the metrics port 9464."
  }
}

variable "app_shutdown_grace_seconds" {
  description = "NEWSREAD_SHUTDOWN_GRACE: seconds /readyz answers 503 after SIGTERM before the app stops accepting and finishes in-flight requests."
  type        = number
  default     = 20

  validation {
    condition     = var.app_shutdown_grace_seconds >= 0 && var.app_shutdown_grace_seconds <= 300
    error_message = "app_shutdown_grace_seconds must be between 0 and 300."
  }
}

variable "app_ingest_interval" {
  description = "NEWSREAD_INGEST_INTERVAL: how often news ingestion runs (leader-elected through the database)."
  type        = string
  default     = "15m"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.app_ingest_interval))
    error_message = "app_ingest_interval must be a duration such as 90s, 15m or 1h."
  }
}

variable "launch_ready_timeout_seconds" {
  description = "How long a launching app instance may take to answer /readyz before the launch lifecycle hook abandons (terminates) it; an instance refresh then fails and rolls back. Covers boot, binary download, migrations and the first database connection."
  type        = number
  default     = 900

  validation {
    condition     = var.launch_ready_timeout_seconds >= 300 && var.launch_ready_timeout_seconds <= 7200
    error_message = "launch_ready_timeout_seconds must be between 300 and 7200."
  }
}

variable "app_uid" {
  description = "Fixed POSIX uid/gid of the newsread system user on every instance and of the EFS access point, so files on the shared volume keep one owner."
  type        = number
  default     = 10001

  validation {
    condition     = var.app_uid >= 1000 && var.app_uid <= 60000
    error_message = "app_uid must be between 1000 and 60000."
  }
}

variable "asg_min_size" {
  description = "Auto Scaling group minimum size."
  type        = number
  default     = 2

  validation {
    condition     = var.asg_min_size >= 1
    error_message = "asg_min_size must be at least 1."
  }
}

variable "asg_desired_capacity" {
  description = "Auto Scaling group desired capacity at creation (target tracking adjusts it afterwards; Terraform then leaves it alone)."
  type        = number
  default     = 4

  validation {
    condition     = var.asg_desired_capacity >= var.asg_min_size && var.asg_desired_capacity <= var.asg_max_size
    error_message = "asg_desired_capacity must lie between asg_min_size and asg_max_size."
  }
}

variable "asg_max_size" {
  description = "Auto Scaling group maximum size."
  type        = number
  default     = 6

  validation {
    condition     = var.asg_max_size >= var.asg_min_size && var.asg_max_size <= 100
    error_message = "asg_max_size must be at least asg_min_size and at most 100."
  }
}

variable "cpu_target_percent" {
  description = "Target tracking: average CPU utilisation of the group."
  type        = number
  default     = 50

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "requests_per_target" {
  description = "Target tracking: ALB requests per target per minute (ALBRequestCountPerTarget)."
  type        = number
  default     = 1000

  validation {
    condition     = var.requests_per_target >= 10
    error_message = "requests_per_target must be at least 10."
  }
}

# --------------------------------------------------------------- artifact ---

variable "artifact_path" {
  description = "Local path of the release binary (e.g. ../../target/release/newsread). Terraform uploads it as a new version of releases/newsread in the artifact bucket; instances fetch that exact version and verify its SHA-256. Leave empty to use artifact_s3_key instead."
  type        = string
  default     = ""

  validation {
    condition     = (var.artifact_path != "") != (var.artifact_s3_key != "")
    error_message = "Set exactly one of artifact_path (upload a local build) or artifact_s3_key (use an object already in the artifact bucket)."
  }
}

variable "artifact_s3_key" {
  description = "Key of a binary already uploaded to the artifact bucket; it must be under releases/. Requires artifact_sha256."
  type        = string
  default     = ""

  validation {
    condition     = var.artifact_s3_key == "" || can(regex("^releases/[A-Za-z0-9._/-]+$", var.artifact_s3_key))
    error_message = "artifact_s3_key must be under releases/ (the only prefix the instance role may read) and use only letters, digits, '.', '_', '-' and '/'."
  }
}

variable "artifact_sha256" {
  description = "Hex SHA-256 of the object at artifact_s3_key (sha256sum output). Ignored when artifact_path is set: Terraform computes it."
  type        = string
  default     = ""

  validation {
    condition     = var.artifact_s3_key == "" || can(regex("^[0-9a-f]{64}$", var.artifact_sha256))
    error_message = "artifact_sha256 must be the 64-hex-digit SHA-256 of the artifact when artifact_s3_key is used."
  }
}

variable "artifact_s3_version_id" {
  description = "Optional S3 version ID of the object at artifact_s3_key (pins the exact version the instances fetch). Ignored when artifact_path is set: Terraform uses the version it uploaded."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.artifact_s3_version_id))
    error_message = "artifact_s3_version_id must be empty or an S3 version ID."
  }
}

variable "artifact_releases_kept" {
  description = "How many earlier releases (noncurrent versions of releases/newsread) the artifact bucket's lifecycle rule always keeps for rollbacks; older ones expire after 90 days."
  type        = number
  default     = 10

  validation {
    condition     = var.artifact_releases_kept >= 3 && var.artifact_releases_kept <= 100
    error_message = "artifact_releases_kept must be between 3 and 100 (instance refresh rollback needs at least the previous release)."
  }
}

variable "efs_utils_deb_path" {
  description = "Optional local path of an amazon-efs-utils .deb built ahead of time (never at boot). When set, instances install it and mount EFS with TLS in transit through the access point; when empty, they mount with the kernel NFS client without TLS (see docs/deploy-aws.md)."
  type        = string
  default     = ""

  validation {
    condition     = var.efs_utils_deb_path == "" || endswith(var.efs_utils_deb_path, ".deb")
    error_message = "efs_utils_deb_path must be empty or point to a .deb file."
  }
}

# --------------------------------------------------------------- database ---

variable "db_engine" {
  description = "RDS engine: postgres or mysql. The parameter group family, port, URL scheme and log exports follow it."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "mysql"], var.db_engine)
    error_message = "db_engine must be postgres or mysql."
  }
}

variable "db_engine_version" {
  description = "Engine major (or major.minor) version. null: 16 for postgres, 8.0 for mysql. Minor versions upgrade automatically in the maintenance window."
  type        = string
  default     = null

  validation {
    condition     = var.db_engine_version == null || can(regex("^[0-9]+(\\.[0-9]+){0,2}$", var.db_engine_version))
    error_message = "db_engine_version must be null or a version such as 16, 16.4 or 8.0."
  }
}

variable "db_instance_class" {
  description = "Instance class of the primary (Multi-AZ) and, unless db_replica_instance_class is set, of the read replica. Performance Insights needs at least db.t4g.medium on MySQL."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.medium."
  }
}

variable "db_replica_instance_class" {
  description = "Instance class of the read replica. null: same as db_instance_class."
  type        = string
  default     = null

  validation {
    condition     = var.db_replica_instance_class == null || can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_replica_instance_class))
    error_message = "db_replica_instance_class must be null or look like db.t4g.medium."
  }
}

variable "db_replica_multi_az" {
  description = "Make the read replica Multi-AZ as well (the primary always is). Doubles the replica's cost."
  type        = bool
  default     = false
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database in GiB; storage autoscaling grows it up to db_max_allocated_storage_gb."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound for RDS storage autoscaling, in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb >= var.db_allocated_storage_gb
    error_message = "db_max_allocated_storage_gb must be at least db_allocated_storage_gb."
  }
}

variable "db_backup_retention_days" {
  description = "Automated backup retention of the primary, in days."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "db_deletion_protection" {
  description = "Deletion protection on the primary and the replica. Turn off (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "false (default): destroying the primary first takes a final snapshot named <name>-<environment>-db-final-<UTC creation time of the database> (unique per database, so a later destroy of a re-created stack does not collide). true: no final snapshot (trials only)."
  type        = bool
  default     = false
}

variable "db_app_username" {
  description = "Database role the web servers connect as (least privilege: SELECT/INSERT/UPDATE/DELETE on the app's tables). newsread migrate creates it with the password Terraform generates into the app credential secret; the master user is used only by the migration unit."
  type        = string
  default     = "newsread_app"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.db_app_username)) && var.db_app_username != var.db_master_username
    error_message = "db_app_username must be 1-16 lower-case letters, digits or underscores starting with a letter, and differ from db_master_username."
  }
}

variable "db_master_username" {
  description = "Master user name. Its password is generated, stored and rotated by RDS in Secrets Manager (manage_master_user_password); Terraform never sees it."
  type        = string
  default     = "newsread_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.db_master_username)) && !contains(["admin", "postgres", "rdsadmin", "root"], var.db_master_username)
    error_message = "db_master_username must be 1-16 lower-case letters, digits or underscores starting with a letter, and not a reserved name."
  }
}

# ---------------------------------------------------------------- secrets ---

variable "create_mediastack_secret" {
  description = "Create an (empty) Secrets Manager secret for the mediastack API key and pass its ARN as NEWSREAD_MEDIASTACK_SECRET_ARN. The value is set with the AWS CLI, never through Terraform, so it is not in state."
  type        = bool
  default     = false
}

# ------------------------------------------------------------- operations ---

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm SNS topic (the subscription must be confirmed from the e-mail)."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "enable_bastion" {
  description = "Create a small SSM-managed bastion in a private subnet (no public IP, no inbound port) for port forwarding to the database. Off by default: Session Manager reaches the app instances directly."
  type        = bool
  default     = false
}

# --------------------------------------------------------------- delivery ---

variable "enable_pipeline" {
  description = "Create the delivery pipeline (pipeline.tf): CodePipeline from the source (pipeline_source) through a CodeBuild build (buildspec.yml: checks, tests that need no services, scripts/release) to a CodeBuild deploy (deploy/aws/release-to-fleet: new binary version, new launch template version, instance refresh with checkpoints and alarm rollback). Off by default. With it, the pipeline owns the release: Terraform's artifact_* only seed the first one (docs/deploy-aws.md, Releasing)."
  type        = bool
  default     = false

  validation {
    condition     = !var.enable_pipeline || var.artifact_path != "" || var.artifact_s3_version_id != ""
    error_message = "enable_pipeline needs the first release pinned by an S3 version: set artifact_path, or artifact_s3_version_id beside artifact_s3_key."
  }
}

variable "pipeline_source" {
  description = "Where the pipeline's source comes from: s3 (default: a zip of the repository uploaded to s3://<pipeline bucket>/source/newsread.zip starts a run) or codestar (a CodeStar connection to pipeline_repository on pipeline_branch; the connection must be completed once in the console)."
  type        = string
  default     = "s3"

  validation {
    condition     = contains(["s3", "codestar"], var.pipeline_source)
    error_message = "pipeline_source must be s3 or codestar."
  }
}

variable "pipeline_repository" {
  description = "owner/name of the repository for pipeline_source = codestar."
  type        = string
  default     = ""

  validation {
    condition     = var.pipeline_source != "codestar" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.pipeline_repository))
    error_message = "pipeline_repository must be owner/name when pipeline_source is codestar."
  }
}

variable "pipeline_branch" {
  description = "Branch whose merged commits the pipeline releases (pipeline_source = codestar)."
  type        = string
  default     = "main"
}

variable "pipeline_connection_provider" {
  description = "Provider of the CodeStar connection (pipeline_source = codestar): GitHub, GitHubEnterpriseServer, Bitbucket or GitLab."
  type        = string
  default     = "GitHub"

  validation {
    condition     = contains(["GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab"], var.pipeline_connection_provider)
    error_message = "pipeline_connection_provider must be GitHub, GitHubEnterpriseServer, Bitbucket or GitLab."
  }
}

variable "pipeline_build_compute_type" {
  description = "CodeBuild compute type of the build stage (BUILD_GENERAL1_MEDIUM: 4 vCPU, 7 GB; LARGE: 8 vCPU, 15 GB, about twice the price per minute and a shorter build)."
  type        = string
  default     = "BUILD_GENERAL1_LARGE"

  validation {
    condition     = contains(["BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_XLARGE", "BUILD_GENERAL1_2XLARGE"], var.pipeline_build_compute_type)
    error_message = "pipeline_build_compute_type must be BUILD_GENERAL1_MEDIUM, _LARGE, _XLARGE or _2XLARGE (SMALL has too little memory to link the release)."
  }
}

variable "pipeline_checkpoint_percentages" {
  description = "Instance refresh checkpoints of a pipeline release: after each percentage of the group is replaced the refresh pauses pipeline_checkpoint_delay_seconds, long enough for the 5xx and unhealthy-host alarms to fire and roll it back. The last must be 100."
  type        = list(number)
  default     = [25, 50, 100]

  validation {
    condition     = length(var.pipeline_checkpoint_percentages) > 0 && var.pipeline_checkpoint_percentages[length(var.pipeline_checkpoint_percentages) - 1] == 100 && alltrue([for i, p in var.pipeline_checkpoint_percentages : p > 0 && p <= 100 && (i == 0 || p > var.pipeline_checkpoint_percentages[max(i - 1, 0)])])
    error_message = "pipeline_checkpoint_percentages must be increasing, between 1 and 100, and end with 100."
  }
}

variable "pipeline_checkpoint_delay_seconds" {
  description = "Pause at each checkpoint of a pipeline release (the alarms need 3 to 5 one-minute periods to fire)."
  type        = number
  default     = 360

  validation {
    condition     = var.pipeline_checkpoint_delay_seconds >= 300 && var.pipeline_checkpoint_delay_seconds <= 3600
    error_message = "pipeline_checkpoint_delay_seconds must be between 300 (the alarms' five-minute window) and 3600."
  }
}
