# Terraform and provider pins. Every resource lives in this repository: no
# module is pulled from the public registry (modules/ holds the only module,
# a pure template renderer with no provider). The only provider is
# hashicorp/aws: passwords come from Secrets Manager's GetRandomPassword
# (ephemeral or data source), not from hashicorp/random, so the configuration
# initialises from a mirror holding hashicorp/aws alone (CI: /opt/tf-plugins).

terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Remote state: copy backend.tf.example to backend.tf and fill it in. It is
  # deliberately not hard-wired here so that a trial can run with local state.
}

# Region comes from var.region, or from AWS_REGION / the profile when it is
# null: nothing in this configuration is tied to one region.
provider "aws" {
  region = var.region

  default_tags {
    tags = local.common_tags
  }
}

# CloudFront only accepts ACM certificates (and CLOUDFRONT-scoped WAF web ACLs)
# from us-east-1, whatever region the rest of the stack runs in.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.common_tags
  }
}
