locals {
  env_file_path         = "/etc/newsread/newsread.env"
  migrate_env_file_path = "/etc/newsread/migrate.env"
  helper_dir            = "/usr/local/lib/newsread"
  efs_tls               = var.efs_utils_deb_key != ""

  # systemd EnvironmentFile: KEY=value, one per line, sorted for stable output.
  environment_file = join("", concat(
    ["# newsread configuration, written by cloud-init from Terraform.\n", "# No secret values: secrets are read at run time from the ARNs below.\n"],
    [for k in sort(keys(var.environment)) : "${k}=${var.environment[k]}\n"],
  ))
  migrate_environment_file = join("", concat(
    ["# newsread-migrate configuration, written by cloud-init from Terraform.\n", "# No secret values: secrets are read at run time from the ARNs below.\n"],
    [for k in sort(keys(var.migrate_environment)) : "${k}=${var.migrate_environment[k]}\n"],
  ))

  systemd_unit = templatefile("${path.module}/templates/newsread.service.tftpl", {
    exec_start            = "${var.install_dir}/bin/newsread serve"
    env_file_path         = local.env_file_path
    migrate_env_file_path = local.migrate_env_file_path
    shared_dir            = var.shared_dir
    timeout_stop_sec      = var.timeout_stop_sec
  })

  migrate_unit = templatefile("${path.module}/templates/newsread-migrate.service.tftpl", {
    exec_migrate          = "${var.install_dir}/bin/newsread migrate"
    migrate_env_file_path = local.migrate_env_file_path
  })

  liveness_script = templatefile("${path.module}/templates/newsread-liveness.sh.tftpl", {
    app_port          = var.app_port
    startup_grace_sec = 60
    max_restarts      = 5
  })
  liveness_unit = templatefile("${path.module}/templates/newsread-liveness.service.tftpl", {
    liveness_script = "${local.helper_dir}/liveness"
  })
  liveness_timer = file("${path.module}/templates/newsread-liveness.timer.tftpl")

  launch_gate_unit = templatefile("${path.module}/templates/newsread-launch-gate.service.tftpl", {
    gate_script      = "${local.helper_dir}/launch-gate"
    region           = var.artifact_region
    asg_name         = var.asg_name
    launch_hook_name = var.launch_hook_name
    app_port         = var.app_port
    timeout_sec      = var.launch_gate_timeout_sec
  })

  # Every unit the user data installs, by file name (the checks verify each).
  units = {
    "newsread.service"             = local.systemd_unit
    "newsread-migrate.service"     = local.migrate_unit
    "newsread-liveness.service"    = local.liveness_unit
    "newsread-liveness.timer"      = local.liveness_timer
    "newsread-launch-gate.service" = local.launch_gate_unit
  }

  bootstrap = templatefile("${path.module}/templates/bootstrap.sh.tftpl", {
    helper_dir           = local.helper_dir
    install_dir          = var.install_dir
    app_uid              = var.app_uid
    shared_dir           = var.shared_dir
    log_dir              = dirname(var.log_file)
    artifact_endpoint    = var.artifact_endpoint
    artifact_region      = var.artifact_region
    artifact_key         = var.artifact_key
    artifact_version_id  = var.artifact_version_id
    artifact_sha256      = var.artifact_sha256
    efs_tls              = local.efs_tls
    efs_dns_name         = var.efs_dns_name
    efs_file_system_id   = var.efs_file_system_id
    efs_access_point_id  = var.efs_access_point_id
    efs_utils_deb_key    = var.efs_utils_deb_key
    efs_utils_deb_sha256 = var.efs_utils_deb_sha256
  })

  rsyslog_conf = templatefile("${path.module}/templates/rsyslog-newsread.conf.tftpl", {
    log_file = var.log_file
  })

  logrotate_conf = templatefile("${path.module}/templates/logrotate-newsread.tftpl", {
    log_file = var.log_file
  })

  cloud_config = templatefile("${path.module}/templates/cloud-config.yaml.tftpl", {
    helper_dir               = local.helper_dir
    env_file_path            = local.env_file_path
    migrate_env_file_path    = local.migrate_env_file_path
    fetch_script             = file("${path.module}/files/fetch-s3-object.py")
    launch_gate_script       = file("${path.module}/files/launch-gate.py")
    liveness_script          = local.liveness_script
    bootstrap                = local.bootstrap
    environment_file         = local.environment_file
    migrate_environment_file = local.migrate_environment_file
    units                    = local.units
    rsyslog_conf             = local.rsyslog_conf
    logrotate_conf           = local.logrotate_conf
  })
}

output "cloud_config" {
  description = "cloud-init user data (#cloud-config)."
  value       = local.cloud_config
}

output "systemd_unit" {
  description = "newsread.service as written to /etc/systemd/system."
  value       = local.systemd_unit
}

output "units" {
  description = "Every systemd unit the user data writes to /etc/systemd/system, by file name."
  value       = local.units
}

output "migrate_environment_file" {
  description = "newsread-migrate.service's EnvironmentFile."
  value       = local.migrate_environment_file
}

output "migrate_env_file_path" {
  description = "Where the migration unit's EnvironmentFile is written."
  value       = local.migrate_env_file_path
}

output "liveness_script" {
  description = "The liveness watchdog script run by newsread-liveness.timer."
  value       = local.liveness_script
}

output "environment_file" {
  description = "The service's EnvironmentFile."
  value       = local.environment_file
}

output "bootstrap_script" {
  description = "The boot script cloud-init runs once."
  value       = local.bootstrap
}

output "env_file_path" {
  description = "Where the EnvironmentFile is written."
  value       = local.env_file_path
}
