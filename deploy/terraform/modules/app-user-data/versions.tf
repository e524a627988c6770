# A pure template renderer: no provider, no resource. The offline check
# (scripts/check-terraform.sh) applies this module on its own with sample
# values to render and verify the user data and the systemd unit.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"
}
