// Runs Zipkin's dependencies job over MySQL (MariaDB) once, for today in
// UTC, as the job's own main (ZipkinDependenciesJob, in the executable jar
// that Maven Central does not serve here at 3.x) runs it: the job's
// builder reads MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_DB, MYSQL_USER and
// MYSQL_PASS from the environment.
//
//   java <Spark's --add-opens> -cp "$(bash ci/zipkin-dependencies.sh)" \
//       ci/zipkin-dependencies/DependenciesJob.java
//
// (Java runs a single source file as it is: nothing to build.)
import zipkin2.dependencies.mysql.MySQLDependenciesJob;

public class DependenciesJob {
  public static void main(String[] args) {
    MySQLDependenciesJob.builder().build().run();
  }
}
