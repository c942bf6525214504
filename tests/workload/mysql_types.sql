-- Workload for the MySQL 9.7 differential decode tests: every column type, every event type
-- gapfill decodes. Run by tests/decode_live.rs through the 9.7 client against a fresh binlog.
-- Each section is one or more transactions; comments say which event it exercises.
DROP DATABASE IF EXISTS gf_types;
CREATE DATABASE gf_types;
USE gf_types;

SET SESSION binlog_row_image = FULL;
SET SESSION binlog_rows_query_log_events = ON;

CREATE TABLE ints (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED,
  si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED
);
INSERT INTO ints VALUES
  (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615),
  (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0),
  (3, 0, 1, -1, 1, -1, 1, -1, 1, -1, 1),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE nums (
  id INT PRIMARY KEY,
  d1 DECIMAL(10,2), d2 DECIMAL(65,30), d3 DECIMAL(5,0), d4 DECIMAL(30,10), d5 DECIMAL(1,1),
  f FLOAT, dbl DOUBLE,
  b1 BIT(1), b13 BIT(13), b64 BIT(64)
);
INSERT INTO nums VALUES
  (1, 12345678.90, 12345678901234567890123456789012345.123456789012345678901234567890, 99999, -12345678901234567890.0123456789, 0.5,
   1.5, 3.141592653589793, b'1', b'1010101010101', b'1111111111111111111111111111111111111111111111111111111111111111'),
  (2, -0.01, -0.000000000000000000000000000001, -1, 0, -0.9,
   -0.0001, -1e300, b'0', b'0', b'0'),
  (3, 0, 0, 0, 0.0000000001, 0, 3.4e38, 2.2250738585072014e-308, NULL, b'1000000000000', b'1000000000000000000000000000000000000000000000000000000000000001');

CREATE TABLE temporal (
  id INT PRIMARY KEY,
  y YEAR, dt DATE, t TIME, t3 TIME(3), t6 TIME(6),
  dtm DATETIME, dtm1 DATETIME(1), dtm6 DATETIME(6),
  ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, ts6 TIMESTAMP(6) NULL
);
SET SESSION time_zone = '+00:00';
INSERT INTO temporal VALUES
  (1, 2024, '2024-02-29', '838:59:59', '-838:59:58.999', '-00:00:00.000001',
   '9999-12-31 23:59:59', '2000-01-01 00:00:00.5', '1000-01-01 00:00:00.000001',
   '2038-01-19 03:14:07', '1970-01-01 00:00:01.123', '2024-06-01 12:34:56.654321'),
  (2, 1901, '1000-01-01', '-507:48:27', '12:00:00.001', '00:00:00',
   '1000-01-01 00:00:00', '2024-01-01 01:02:03.9', '2024-12-31 23:59:59.999999',
   '2000-01-01 00:00:00', NULL, '2001-02-03 04:05:06.000007'),
  (3, 2155, '9999-12-31', '00:00:00', '-00:00:01.500', '23:59:59.999999',
   '2020-02-02 02:02:02', NULL, '2020-02-02 02:02:02.020202',
   NULL, '2030-01-01 00:00:00.999', NULL);
SET SESSION sql_mode = '';
INSERT INTO temporal (id, y, dt, dtm) VALUES (4, 0, '0000-00-00', '0000-00-00 00:00:00');
SET SESSION sql_mode = DEFAULT;

CREATE TABLE strs (
  id INT PRIMARY KEY,
  c10 CHAR(10), c255 CHAR(255) CHARACTER SET utf8mb4, cl CHAR(20) CHARACTER SET latin1,
  vc VARCHAR(10), vc300 VARCHAR(300), vl VARCHAR(2000) CHARACTER SET latin1,
  bin16 BINARY(16), vb VARBINARY(300),
  e ENUM('a','b','c with space','d''quote'), e300 ENUM('v0','v1','v2','v3','v4','v5','v6','v7','v8','v9','v10','v11','v12','v13','v14','v15','v16','v17','v18','v19','v20','v21','v22','v23','v24','v25','v26','v27','v28','v29','v30','v31','v32','v33','v34','v35','v36','v37','v38','v39','v40','v41','v42','v43','v44','v45','v46','v47','v48','v49','v50','v51','v52','v53','v54','v55','v56','v57','v58','v59','v60','v61','v62','v63','v64','v65','v66','v67','v68','v69','v70','v71','v72','v73','v74','v75','v76','v77','v78','v79','v80','v81','v82','v83','v84','v85','v86','v87','v88','v89','v90','v91','v92','v93','v94','v95','v96','v97','v98','v99','v100','v101','v102','v103','v104','v105','v106','v107','v108','v109','v110','v111','v112','v113','v114','v115','v116','v117','v118','v119','v120','v121','v122','v123','v124','v125','v126','v127','v128','v129','v130','v131','v132','v133','v134','v135','v136','v137','v138','v139','v140','v141','v142','v143','v144','v145','v146','v147','v148','v149','v150','v151','v152','v153','v154','v155','v156','v157','v158','v159','v160','v161','v162','v163','v164','v165','v166','v167','v168','v169','v170','v171','v172','v173','v174','v175','v176','v177','v178','v179','v180','v181','v182','v183','v184','v185','v186','v187','v188','v189','v190','v191','v192','v193','v194','v195','v196','v197','v198','v199','v200','v201','v202','v203','v204','v205','v206','v207','v208','v209','v210','v211','v212','v213','v214','v215','v216','v217','v218','v219','v220','v221','v222','v223','v224','v225','v226','v227','v228','v229','v230','v231','v232','v233','v234','v235','v236','v237','v238','v239','v240','v241','v242','v243','v244','v245','v246','v247','v248','v249','v250','v251','v252','v253','v254','v255','v256','v257','v258','v259','v260'),
  s SET('x','y','z'),
  s64 SET('s0','s1','s2','s3','s4','s5','s6','s7','s8','s9','s10','s11','s12','s13','s14','s15','s16','s17','s18','s19','s20','s21','s22','s23','s24','s25','s26','s27','s28','s29','s30','s31','s32','s33','s34','s35','s36','s37','s38','s39','s40','s41','s42','s43','s44','s45','s46','s47','s48','s49','s50','s51','s52','s53','s54','s55','s56','s57','s58','s59','s60','s61','s62','s63')
);
INSERT INTO strs VALUES
  (1, 'abc', REPEAT('中', 255), 'caf\xe9', '', REPEAT('x', 300), REPEAT('l', 2000),
   UNHEX('000102030405060708090A0B0C0D0E0F'), UNHEX('FF00FE01'), 'c with space', 'v260', 'x,z',
   's0,s63'),
  (2, 'q''uo\\te', 'tab\there\nnewline', 'x', 'ümlaut', 'a\0b', '',
   '', '', 'd''quote', 'v0', '', 's1,s2,s3'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE blobs (
  id INT PRIMARY KEY,
  tt TINYTEXT, t TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  tb TINYBLOB, b BLOB, mb MEDIUMBLOB, lb LONGBLOB
);
INSERT INTO blobs VALUES
  (1, 'tiny', 'text', REPEAT('m', 70000), REPEAT('L', 100000),
   UNHEX('00FF'), UNHEX(REPEAT('AB', 1000)), UNHEX(REPEAT('CD', 70000)), UNHEX(REPEAT('EF', 20))),
  (2, '', '', '', '', '', '', '', ''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE docs (id INT PRIMARY KEY, j JSON);
INSERT INTO docs VALUES
  (1, '{"a": 1, "b": [1, 2.5, "three", null, true, false], "c": {"nested": {"deep": "yes"}}}'),
  (2, '[]'), (3, '{}'), (4, '"just a string with \\"quotes\\" and \\\\ and \\n"'),
  (5, '123'), (6, '-9223372036854775808'), (7, '18446744073709551615'), (8, '1.5e300'),
  (9, 'null'), (10, 'true'), (11, NULL),
  (12, JSON_OBJECT('date', CAST('2024-01-02' AS DATE), 'time', CAST('12:34:56.789' AS TIME(3)),
                   'datetime', CAST('2024-01-02 03:04:05.678901' AS DATETIME(6)),
                   'decimal', CAST(12.345 AS DECIMAL(10,3)), 'float', 0.1, 'unicode', '中文 ümlaut')),
  (13, JSON_ARRAY(CAST(X'DEADBEEF' AS BINARY), 65535, 65536, -32769, 4294967296)),
  (14, CONCAT('{"k": "', REPEAT('v', 70000), '"}'));

-- mysqlbinlog 9.7 cannot print a GEOMETRY value and drops the rest of its rows event: one
-- row per statement with the spatial column last, so it drops nothing else to compare.
CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY);
CREATE TABLE geo_point (id INT PRIMARY KEY, p POINT);
CREATE TABLE geo_poly (id INT PRIMARY KEY, poly POLYGON);
INSERT INTO geo VALUES (1, ST_GeomFromText('LINESTRING(0 0, 1 1, 2 2)'));
INSERT INTO geo VALUES (2, NULL);
INSERT INTO geo_point VALUES (1, ST_GeomFromText('POINT(1.5 -2.25)'));
INSERT INTO geo_point VALUES (2, ST_GeomFromText('POINT(0 0)', 4326));
INSERT INTO geo_poly VALUES (1, ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))'));
INSERT INTO geo_poly VALUES (2, NULL);

CREATE TABLE vec (id INT PRIMARY KEY, v VECTOR(3));
INSERT INTO vec VALUES (1, STRING_TO_VECTOR('[1.5, -2, 3.25]')), (2, NULL);

-- Updates and deletes: before and after images, FULL then MINIMAL then NOBLOB.
UPDATE ints SET ti = ti - 1, bu = 42 WHERE id = 2;
UPDATE strs SET vc = 'changed', s = 'y' WHERE id = 1;
DELETE FROM nums WHERE id = 2;
SET SESSION binlog_row_image = MINIMAL;
UPDATE temporal SET t3 = '01:02:03.456' WHERE id = 2;
UPDATE blobs SET t = 'minimal' WHERE id = 1;
DELETE FROM ints WHERE id = 3;
INSERT INTO ints (id, i) VALUES (5, 5);
SET SESSION binlog_row_image = NOBLOB;
UPDATE blobs SET tt = 'noblob' WHERE id = 2;
SET SESSION binlog_row_image = FULL;

-- A table without a primary key, with duplicate rows.
CREATE TABLE nopk (a INT, b VARCHAR(20));
INSERT INTO nopk VALUES (1, 'dup'), (1, 'dup'), (2, NULL);
UPDATE nopk SET b = 'one' WHERE a = 1 LIMIT 1;
DELETE FROM nopk WHERE a = 2;

-- Multi-statement transaction with a savepoint rolled back.
START TRANSACTION;
INSERT INTO nopk VALUES (10, 'kept');
SAVEPOINT sp1;
INSERT INTO nopk VALUES (11, 'rolled back');
ROLLBACK TO SAVEPOINT sp1;
INSERT INTO nopk VALUES (12, 'kept too');
COMMIT;

-- Partial JSON updates (PARTIAL_UPDATE_ROWS_EVENT).
SET SESSION binlog_row_value_options = PARTIAL_JSON;
UPDATE docs SET j = JSON_SET(j, '$.a', 2, '$.new', 'x') WHERE id = 1;
UPDATE docs SET j = JSON_REPLACE(j, '$.c.nested.deep', 'no') WHERE id = 1;
UPDATE docs SET j = JSON_REMOVE(j, '$.b[0]') WHERE id = 1;
UPDATE docs SET j = JSON_ARRAY_INSERT(j, '$.b[0]', 0) WHERE id = 1;
SET SESSION binlog_row_value_options = '';

-- Statement-format events: INTVAR, RAND, USER_VAR in QUERY context.
CREATE TABLE stmt (id INT AUTO_INCREMENT PRIMARY KEY, r DOUBLE, u VARCHAR(20), n INT);
SET SESSION binlog_format = STATEMENT;
SET @uv = 'user var';
SET @un = 7;
INSERT INTO stmt (r, u, n) VALUES (RAND(7), @uv, @un);
INSERT INTO stmt (r, u, n) VALUES (1, 'li', LAST_INSERT_ID());
SET SESSION binlog_format = ROW;

-- XA transaction (XA_PREPARE event, then XA COMMIT query).
XA START 'gf-xa-1', 'bq', 7;
INSERT INTO nopk VALUES (20, 'xa');
XA END 'gf-xa-1', 'bq', 7;
XA PREPARE 'gf-xa-1', 'bq', 7;
XA COMMIT 'gf-xa-1', 'bq', 7;

-- Transaction compression (TRANSACTION_PAYLOAD_EVENT with zstd).
SET SESSION binlog_transaction_compression = ON;
INSERT INTO nopk SELECT a + 100, CONCAT(b, '-compressed') FROM nopk;
UPDATE ints SET i = i + 1, bu = bu - 1 WHERE id IN (1, 5);
SET SESSION binlog_transaction_compression = OFF;

-- Tagged GTIDs (GTID_TAGGED_LOG_EVENT, MySQL 8.3+).
SET gtid_next = 'AUTOMATIC:gapfill_tag';
INSERT INTO nopk VALUES (30, 'tagged');
SET gtid_next = 'AUTOMATIC';

-- DDL in the middle, then rows against the new shape.
ALTER TABLE nopk ADD COLUMN c DATETIME(3) NULL;
INSERT INTO nopk VALUES (40, 'after ddl', '2024-05-05 05:05:05.555');
