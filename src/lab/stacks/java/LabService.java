/*
 * Real-stack lab: the Java service. Written the way a plain Java service is written: the JDK's
 * com.sun.net.httpserver.HttpServer on a FIXED worker pool (like a servlet container's bounded
 * worker pool), HikariCP (Debian's 2.7.9) over the PostgreSQL JDBC driver, slf4j-simple for logs.
 *
 *   java -cp <classes>:HikariCP.jar:postgresql.jar:slf4j-api.jar:slf4j-simple.jar LabService \
 *        --port P --host H --dsn postgres://user@host:5432/db --pool-max N --query-ms MS \
 *        --behaviour db|fd-leak --pool-export none|java-actuator|java-metrics|java-log --log-dir D \
 *        [--threads 16] [--backlog 50] [--connection-timeout-ms 30000]
 *
 * Every path except the metrics endpoint runs the behaviour:
 *   db:      `select pg_sleep(?)` (query-ms) on a pooled connection, then 200 "ok";
 *   fd-leak: opens <log-dir>/spool/report-<n>.json, writes a little, never closes it (the stream is
 *            kept in a list, so not even the GC closes it), then `select 1`, then 200.
 * Errors (HikariCP's SQLTransientConnectionException after connectionTimeout, "Too many open files")
 * answer 500 and go to <log-dir>/app.log through slf4j-simple, together with HikariCP's own logging.
 *
 * java-actuator / java-metrics: Prometheus text at /actuator/prometheus resp. /metrics with the names,
 * HELP texts, types and label style that Micrometer's HikariCP binding publishes
 * (com.zaxxer.hikari.metrics.micrometer.MicrometerMetricsTracker scraped by PrometheusMeterRegistry
 * with simpleclient 0.x, as in Spring Boot 2.x). Micrometer itself is not packaged in Debian, so the
 * format is reproduced here; the numbers come from the real pool through HikariCP's own
 * MetricsTrackerFactory hook (the same hook and the same PoolStats Micrometer's binder uses).
 * These endpoints run on the same fixed worker pool as the requests, as in a servlet container.
 *
 * Access log: <log-dir>/access.log, Tomcat-style `%h %l %u %t "%r" %s %b %Dms` (duration measured from
 * the moment a worker thread runs the handler, like Tomcat's %D: time queued before that is not in it).
 *
 * Prints {"event":"listening","pid":N} on stdout once it listens.
 */

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.metrics.IMetricsTracker;
import com.zaxxer.hikari.metrics.MetricsTrackerFactory;
import com.zaxxer.hikari.metrics.PoolStats;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

public final class LabService {

  // ------------------------------------------------------------------ flags

  static final class Flags {
    String host = "127.0.0.1";
    int port = 0;
    String dsn = "";
    int poolMax = 10;
    int queryMs = 5;
    String behaviour = "db";
    String poolExport = "none";
    String logDir = ".";
    int threads = 16;
    int backlog = 0; // 0 = the JDK's default (50)
    long connectionTimeoutMs = 30_000; // Spring Boot ships HikariCP's default, 30 s
  }

  static Flags parseFlags(String[] argv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      if (!a.startsWith("-")) throw new IllegalArgumentException("unexpected argument: " + a);
      String k = a.replaceFirst("^--?", "");
      String v;
      int eq = k.indexOf('=');
      if (eq >= 0) {
        v = k.substring(eq + 1);
        k = k.substring(0, eq);
      } else {
        if (i + 1 >= argv.length) throw new IllegalArgumentException("missing value for " + a);
        v = argv[++i];
      }
      m.put(k, v);
    }
    Flags f = new Flags();
    for (Map.Entry<String, String> e : m.entrySet()) {
      String v = e.getValue();
      switch (e.getKey()) {
        case "host": f.host = v; break;
        case "port": f.port = Integer.parseInt(v); break;
        case "dsn": f.dsn = v; break;
        case "pool-max": f.poolMax = Integer.parseInt(v); break;
        case "query-ms": f.queryMs = Integer.parseInt(v); break;
        case "behaviour": f.behaviour = v; break;
        case "pool-export": f.poolExport = v; break;
        case "log-dir": f.logDir = v; break;
        case "threads": f.threads = Integer.parseInt(v); break;
        case "backlog": f.backlog = Integer.parseInt(v); break;
        case "connection-timeout-ms": f.connectionTimeoutMs = Long.parseLong(v); break;
        default: throw new IllegalArgumentException("unknown flag --" + e.getKey());
      }
    }
    if (f.dsn.isEmpty()) throw new IllegalArgumentException("--dsn is required");
    if (!f.behaviour.equals("db") && !f.behaviour.equals("fd-leak"))
      throw new IllegalArgumentException("--behaviour must be db or fd-leak");
    if (!List.of("none", "java-actuator", "java-metrics", "java-log").contains(f.poolExport))
      throw new IllegalArgumentException("--pool-export must be none, java-actuator, java-metrics or java-log");
    return f;
  }

  /** postgres://user:pass@host:port/db?k=v → jdbc:postgresql://host:port/db?k=v, user and password apart. */
  static String[] jdbcFromDsn(String dsn) {
    URI u = URI.create(dsn);
    String scheme = u.getScheme();
    if (!"postgres".equals(scheme) && !"postgresql".equals(scheme))
      throw new IllegalArgumentException("--dsn must be a postgres:// URL");
    String host = u.getHost() == null ? "127.0.0.1" : u.getHost();
    int port = u.getPort() < 0 ? 5432 : u.getPort();
    String db = u.getPath() == null || u.getPath().length() <= 1 ? "postgres" : u.getPath().substring(1);
    String user = null;
    String pass = null;
    if (u.getRawUserInfo() != null) {
      String[] ui = u.getRawUserInfo().split(":", 2);
      user = URLDecoder.decode(ui[0], StandardCharsets.UTF_8);
      if (ui.length > 1) pass = URLDecoder.decode(ui[1], StandardCharsets.UTF_8);
    }
    String url = "jdbc:postgresql://" + host + ":" + port + "/" + db + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
    return new String[] {url, user, pass};
  }

  /** slf4j-simple reads its configuration once, at the first logger; fill what the command line did not set. */
  static void configureLogging(Flags f) {
    setDefault("org.slf4j.simpleLogger.logFile", new File(f.logDir, "app.log").getPath());
    setDefault("org.slf4j.simpleLogger.showDateTime", "true");
    setDefault("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd HH:mm:ss.SSS");
    setDefault("org.slf4j.simpleLogger.defaultLogLevel", "info");
    if (f.poolExport.equals("java-log")) {
      setDefault("org.slf4j.simpleLogger.log.com.zaxxer.hikari", "debug");
      setDefault("com.zaxxer.hikari.housekeeping.periodMs", "1000");
    }
  }

  static void setDefault(String k, String v) {
    if (System.getProperty(k) == null) System.setProperty(k, v);
  }

  // ------------------------------------------------------------------ Micrometer-style metrics

  /** Micrometer's TimeWindowMax: max over a 1-minute step, ring of 3 buffers rotated every 20 s. */
  static final class TimeWindowMax {
    private final double[] ring = new double[3];
    private int current = 0;
    private long lastRotateMs = System.currentTimeMillis();
    private static final long ROTATE_MS = 20_000;

    synchronized void record(double v) {
      rotate();
      for (int i = 0; i < ring.length; i++) if (v > ring[i]) ring[i] = v;
    }

    synchronized double poll() {
      rotate();
      return ring[current];
    }

    private void rotate() {
      long now = System.currentTimeMillis();
      if (now - lastRotateMs < ROTATE_MS) return;
      if (now - lastRotateMs >= ROTATE_MS * ring.length) {
        java.util.Arrays.fill(ring, 0);
        current = 0;
        lastRotateMs = now;
        return;
      }
      while (now - lastRotateMs >= ROTATE_MS) {
        ring[current] = 0;
        current = (current + 1) % ring.length;
        lastRotateMs += ROTATE_MS;
      }
    }
  }

  /** A Micrometer Timer as Prometheus sees it: count, total seconds, window max seconds. */
  static final class Timer {
    final AtomicLong count = new AtomicLong();
    final AtomicLong totalNanos = new AtomicLong();
    final TimeWindowMax max = new TimeWindowMax();

    void recordNanos(long nanos) {
      count.incrementAndGet();
      totalNanos.addAndGet(nanos);
      max.record(nanos / 1e9);
    }
  }

  /** The pool's numbers, fed by HikariCP exactly as it feeds Micrometer's MicrometerMetricsTracker. */
  static final class PoolMetrics implements MetricsTrackerFactory {
    volatile String poolName = "";
    volatile PoolStats stats;
    final Timer acquire = new Timer();
    final Timer usage = new Timer();
    final Timer creation = new Timer();
    final AtomicLong timeouts = new AtomicLong();

    @Override
    public IMetricsTracker create(String poolName, PoolStats poolStats) {
      this.poolName = poolName;
      this.stats = poolStats;
      return new IMetricsTracker() {
        @Override public void recordConnectionAcquiredNanos(long elapsedAcquiredNanos) { acquire.recordNanos(elapsedAcquiredNanos); }
        @Override public void recordConnectionUsageMillis(long elapsedBorrowedMillis) { usage.recordNanos(elapsedBorrowedMillis * 1_000_000L); }
        @Override public void recordConnectionCreatedMillis(long connectionCreatedMillis) { creation.recordNanos(connectionCreatedMillis * 1_000_000L); }
        @Override public void recordConnectionTimeout() { timeouts.incrementAndGet(); }
      };
    }
  }

  /** simpleclient's Collector.doubleToGoString. */
  static String num(double d) {
    if (d == Double.POSITIVE_INFINITY) return "+Inf";
    if (d == Double.NEGATIVE_INFINITY) return "-Inf";
    if (Double.isNaN(d)) return "NaN";
    return Double.toString(d);
  }

  static void family(StringBuilder sb, String name, String help, String type) {
    sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
    sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  static void sample(StringBuilder sb, String name, String labels, double v) {
    sb.append(name).append('{').append(labels).append("} ").append(num(v)).append('\n');
  }

  static void gauge(StringBuilder sb, String name, String help, String labels, double v) {
    family(sb, name, help, "gauge");
    sample(sb, name, labels, v);
  }

  static void timer(StringBuilder sb, String base, String help, String labels, Timer t) {
    family(sb, base + "_seconds", help, "summary");
    sample(sb, base + "_seconds_count", labels, t.count.get());
    sample(sb, base + "_seconds_sum", labels, t.totalNanos.get() / 1e9);
    family(sb, base + "_seconds_max", help, "gauge");
    sample(sb, base + "_seconds_max", labels, t.max.poll());
  }

  static String scrape(PoolMetrics pm) {
    StringBuilder sb = new StringBuilder(4096);
    String l = "pool=\"" + pm.poolName + "\",";
    PoolStats s = pm.stats;
    timer(sb, "hikaricp_connections_acquire", "Connection acquire time", l, pm.acquire);
    timer(sb, "hikaricp_connections_creation", "Connection creation time", l, pm.creation);
    timer(sb, "hikaricp_connections_usage", "Connection usage time", l, pm.usage);
    family(sb, "hikaricp_connections_timeout_total", "Connection timeout total count", "counter");
    sample(sb, "hikaricp_connections_timeout_total", l, pm.timeouts.get());
    if (s != null) {
      gauge(sb, "hikaricp_connections", "Total connections", l, s.getTotalConnections());
      gauge(sb, "hikaricp_connections_active", "Active connections", l, s.getActiveConnections());
      gauge(sb, "hikaricp_connections_idle", "Idle connections", l, s.getIdleConnections());
      gauge(sb, "hikaricp_connections_pending", "Pending threads", l, s.getPendingThreads());
      gauge(sb, "hikaricp_connections_max", "Max connections", l, s.getMaxConnections());
      gauge(sb, "hikaricp_connections_min", "Min connections", l, s.getMinConnections());
    }
    // Micrometer's FileDescriptorMetrics and JvmThreadMetrics (bound by Spring Boot by default).
    OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.UnixOperatingSystemMXBean) {
      com.sun.management.UnixOperatingSystemMXBean u = (com.sun.management.UnixOperatingSystemMXBean) os;
      // Micrometer's FileDescriptorMetrics reports NaN when the call fails; at the fd limit it does
      // (InternalError: "Unable to open directory /proc/self/fd").
      double open;
      try {
        open = u.getOpenFileDescriptorCount();
      } catch (Throwable t) {
        open = Double.NaN;
      }
      family(sb, "process_files_open_files", "The open file descriptor count", "gauge");
      sb.append("process_files_open_files ").append(num(open)).append('\n');
      family(sb, "process_files_max_files", "The maximum file descriptor count", "gauge");
      sb.append("process_files_max_files ").append(num(u.getMaxFileDescriptorCount())).append('\n');
    }
    family(sb, "jvm_threads_live_threads", "The current number of live threads including both daemon and non-daemon threads", "gauge");
    sb.append("jvm_threads_live_threads ").append(num(ManagementFactory.getThreadMXBean().getThreadCount())).append('\n');
    return sb.toString();
  }

  // ------------------------------------------------------------------ service

  static org.slf4j.Logger log;
  static HikariDataSource ds;
  static Flags flags;
  static PoolMetrics metrics;
  static String metricsPath = null;
  static OutputStream accessLog;
  static final AtomicInteger reportSeq = new AtomicInteger();
  /** the leak: every report stream ever opened stays referenced and open */
  static final List<FileOutputStream> openReports = new ArrayList<>();
  static final DateTimeFormatter CLF = DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ROOT);

  public static void main(String[] argv) throws Exception {
    flags = parseFlags(argv);
    new File(flags.logDir).mkdirs();
    configureLogging(flags);
    log = org.slf4j.LoggerFactory.getLogger(LabService.class);
    accessLog = new FileOutputStream(new File(flags.logDir, "access.log"), true);

    String[] jdbc = jdbcFromDsn(flags.dsn);
    HikariConfig cfg = new HikariConfig();
    cfg.setPoolName("HikariPool-1");
    cfg.setJdbcUrl(jdbc[0]);
    if (jdbc[1] != null) cfg.setUsername(jdbc[1]);
    if (jdbc[2] != null) cfg.setPassword(jdbc[2]);
    cfg.setMaximumPoolSize(flags.poolMax);
    cfg.setConnectionTimeout(flags.connectionTimeoutMs);
    if (flags.poolExport.equals("java-actuator") || flags.poolExport.equals("java-metrics")) {
      metrics = new PoolMetrics();
      cfg.setMetricsTrackerFactory(metrics);
      metricsPath = flags.poolExport.equals("java-actuator") ? "/actuator/prometheus" : "/metrics";
    }
    ds = new HikariDataSource(cfg); // starts the pool; fails fast when the database is unreachable

    HttpServer server = HttpServer.create(new InetSocketAddress(flags.host, flags.port), flags.backlog);
    server.createContext("/", LabService::handle);
    AtomicInteger n = new AtomicInteger();
    ThreadFactory tf = r -> {
      Thread t = new Thread(r, "http-worker-" + n.incrementAndGet());
      t.setDaemon(false);
      return t;
    };
    ExecutorService workers = Executors.newFixedThreadPool(flags.threads, tf);
    server.setExecutor(workers);
    server.start();
    log.info("Started LabService on {}:{} (workers={}, pool-max={}, query-ms={}, behaviour={}, pool-export={})",
        flags.host, server.getAddress().getPort(), flags.threads, flags.poolMax, flags.queryMs, flags.behaviour, flags.poolExport);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.stop(0);
      ds.close();
    }, "shutdown"));
    System.out.println("{\"event\":\"listening\",\"pid\":" + ProcessHandle.current().pid() + "}");
    System.out.flush();
  }

  static void handle(HttpExchange ex) {
    long t0 = System.nanoTime();
    int status = 500;
    long bytes = 0;
    try {
      try (InputStream in = ex.getRequestBody()) {
        in.readAllBytes();
      }
      String path = ex.getRequestURI().getPath();
      byte[] body;
      String type = "text/plain; charset=utf-8";
      if (path.equals("/actuator/prometheus") || path.equals("/metrics")) {
        if (metricsPath != null && path.equals(metricsPath)) {
          status = 200;
          body = scrape(metrics).getBytes(StandardCharsets.UTF_8);
          type = "text/plain; version=0.0.4; charset=utf-8";
        } else {
          status = 404;
          body = "not found\n".getBytes(StandardCharsets.UTF_8);
        }
      } else {
        try {
          work();
          status = 200;
          body = "ok\n".getBytes(StandardCharsets.UTF_8);
        } catch (SQLException | IOException e) {
          log.error("Request processing failed for GET " + path, e);
          status = 500;
          body = ("error: " + e.getMessage() + "\n").getBytes(StandardCharsets.UTF_8);
        }
      }
      bytes = body.length;
      ex.getResponseHeaders().set("Content-Type", type);
      ex.sendResponseHeaders(status, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    } catch (IOException e) {
      // the client is gone (broken pipe / reset): like Tomcat's ClientAbortException, not logged
    } catch (RuntimeException | Error e) {
      log.error("Unexpected error", e);
    } finally {
      ex.close();
      accessLine(ex, status, bytes, (System.nanoTime() - t0) / 1_000_000L);
    }
  }

  static void work() throws SQLException, IOException {
    if (flags.behaviour.equals("fd-leak")) {
      int seq = reportSeq.incrementAndGet();
      File dir = new File(flags.logDir, "spool");
      dir.mkdirs();
      FileOutputStream out = new FileOutputStream(new File(dir, "report-" + seq + ".json"));
      synchronized (openReports) {
        openReports.add(out);
      }
      out.write(("{\"report\":" + seq + ",\"status\":\"pending\"}\n").getBytes(StandardCharsets.UTF_8));
      try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("select 1"); ResultSet rs = ps.executeQuery()) {
        rs.next();
      }
      return;
    }
    try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("select pg_sleep(?)")) {
      ps.setDouble(1, flags.queryMs / 1000.0);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
      }
    }
  }

  static void accessLine(HttpExchange ex, int status, long bytes, long ms) {
    InetSocketAddress remote = ex.getRemoteAddress();
    String host = remote == null ? "-" : remote.getAddress().getHostAddress();
    String line = host + " - - [" + ZonedDateTime.now().format(CLF) + "] \"" + ex.getRequestMethod() + " "
        + ex.getRequestURI() + " " + ex.getProtocol() + "\" " + status + " " + (bytes == 0 ? "-" : Long.toString(bytes))
        + " " + ms + "ms\n";
    synchronized (LabService.class) {
      try {
        accessLog.write(line.getBytes(StandardCharsets.UTF_8));
      } catch (IOException e) {
        log.error("access log write failed", e);
      }
    }
  }
}
