-- Run once by the postgres image on a fresh volume (docker-compose.yml mounts this folder).
-- POSTGRES_DB creates the tracker database "rasa"; the learner store gets its own database.
CREATE DATABASE learners OWNER tutor;
