# launchq on Google Cloud: three Cloud Functions (2nd gen), Pub/Sub, Firestore, Cloud Scheduler,
# Vertex AI. `terraform init && terraform apply -var project=... -var region=...` after
# `python infra/gcp/package.py` has staged the functions' source (see README.md here).
terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
