-- MLflow's tables live in their own database; the app's tables in "workbench".
CREATE DATABASE mlflow OWNER workbench;
