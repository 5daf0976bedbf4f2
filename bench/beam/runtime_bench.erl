%% File: bench/beam/runtime_bench.erl
%%
%% The measurements of bench/runtime.bench.cpp, on the BEAM, for the
%% comparison in bench/RESULTS.md (docs/benchmarks.md has the method).
%% Run by bench/run-micro.sh:
%%   erlc -o DIR runtime_bench.erl
%%   erl +S 2 -noshell -pa DIR -run runtime_bench main [MinTimeSec Reps]
%% Every benchmark mirrors the C++ one: processes that run "on one
%% scheduler" are bound to scheduler 1 with spawn_opt's {scheduler, N}
%% option (otpnet: scheduler 0), and "across schedulers" puts the peer on
%% scheduler 2 (otpnet: 1). Batches are timed inside the processes with
%% erlang:monotonic_time(nanosecond). Output, one line per figure:
%%   rep <bench> <ns_per_op>          each repetition
%%   result <bench> <value> <unit>    the median over repetitions
-module(runtime_bench).
-export([main/0, main/1]).

-define(SAME, 1).
-define(OTHER, 2).

main() -> main([]).

main(Args) ->
    {MinTime, Reps} =
        case Args of
            [M, R] -> {to_number(M), list_to_integer(R)};
            _ -> {0.3, 3}
        end,
    io:format("beam otp ~s erts ~s schedulers ~p~n",
              [erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(schedulers_online)]),
    %% Memory first, as in the C++ run: a fresh VM shows the growth.
    idle_process_memory(100000),
    Benches = [{spawn_exit_100, 100, fun spawn_exit/1},
               {spawn_exit, 1000, fun spawn_exit/1},
               {spawn_exit_10000, 10000, fun spawn_exit/1},
               {spawn_exit_msg, 1000, fun spawn_exit_msg/1},
               {ping_pong_same, 10000, fun(N) -> ping_pong(N, ?SAME) end},
               {ping_pong_cross, 10000, fun(N) -> ping_pong(N, ?OTHER) end},
               {one_way_same_1000, 1000, fun(N) -> one_way(N, ?SAME) end},
               {one_way_same_4000, 4000, fun(N) -> one_way(N, ?SAME) end},
               {one_way_same, 100000, fun(N) -> one_way(N, ?SAME) end},
               {one_way_cross, 100000, fun(N) -> one_way(N, ?OTHER) end},
               {send_after_cancel, 10000, fun send_after_cancel/1}],
    [bench(Name, N, F, MinTime, Reps) || {Name, N, F} <- Benches],
    halt(0).

to_number(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% Runs batches of F(N) (each returns its time in ns) for at least MinTime
%% seconds per repetition; prints ns per operation for each repetition and
%% their median.
bench(Name, N, F, MinTime, Reps) ->
    _ = F(N),  % warm-up
    PerOp = [rep(Name, N, F, MinTime) || _ <- lists:seq(1, Reps)],
    io:format("result ~s ~.3f ns_per_op~n", [Name, median(PerOp)]).

rep(Name, N, F, MinTime) ->
    Limit = round(MinTime * 1.0e9),
    {Ns, Ops} = rep_loop(N, F, Limit, 0, 0),
    PerOp = Ns / Ops,
    io:format("rep ~s ~.3f~n", [Name, PerOp]),
    PerOp.

rep_loop(_N, _F, Limit, Ns, Ops) when Ns >= Limit -> {Ns, Ops};
rep_loop(N, F, Limit, Ns, Ops) -> rep_loop(N, F, Limit, Ns + F(N), Ops + N).

median(L) ->
    S = lists:sort(L),
    Len = length(S),
    case Len rem 2 of
        1 -> lists:nth(Len div 2 + 1, S);
        0 -> (lists:nth(Len div 2, S) + lists:nth(Len div 2 + 1, S)) / 2
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

%% Runs Fun in a process bound to scheduler Sched and returns what it
%% sends back.
on(Sched, Fun) ->
    Me = self(),
    Ref = make_ref(),
    erlang:spawn_opt(fun() -> Me ! {Ref, Fun()} end, [{scheduler, Sched}]),
    receive {Ref, R} -> R end.

%% -- spawn + exit ------------------------------------------------------------

spawn_exit(N) ->
    on(?SAME, fun() ->
        Base = erlang:system_info(process_count),
        T0 = now_ns(),
        spawn_n(N, fun() -> ok end),
        wait_count(Base),
        now_ns() - T0
    end).

spawn_n(0, _F) -> ok;
spawn_n(K, F) ->
    erlang:spawn_opt(F, [{scheduler, ?SAME}]),
    spawn_n(K - 1, F).

wait_count(Base) ->
    case erlang:system_info(process_count) > Base of
        true -> erlang:yield(), wait_count(Base);
        false -> ok
    end.

spawn_exit_msg(N) ->
    on(?SAME, fun() ->
        Me = self(),
        T0 = now_ns(),
        spawn_n(N, fun() -> Me ! child_done end),
        recv_n(N, child_done),
        now_ns() - T0
    end).

recv_n(0, _) -> ok;
recv_n(K, child_done) -> receive child_done -> recv_n(K - 1, child_done) end.

%% -- ping-pong ---------------------------------------------------------------

ping_pong(N, PongSched) ->
    Pong = erlang:spawn_opt(fun pong/0, [{scheduler, PongSched}]),
    Ns = on(?SAME, fun() ->
        T0 = now_ns(),
        ping(N, Pong, self()),
        now_ns() - T0
    end),
    exit(Pong, kill),
    Ns.

pong() ->
    receive {ping, From} -> From ! pong, pong() end.

ping(0, _Pong, _Me) -> ok;
ping(K, Pong, Me) ->
    Pong ! {ping, Me},
    receive pong -> ping(K - 1, Pong, Me) end.

%% -- one-way messages --------------------------------------------------------

one_way(N, ConsumerSched) ->
    Me = self(),
    Consumer = erlang:spawn_opt(fun() -> consume(N, 0), Me ! {t_end, now_ns()} end,
                                [{scheduler, ConsumerSched}]),
    erlang:spawn_opt(fun() -> T0 = now_ns(), produce(N, Consumer), Me ! {t_start, T0} end,
                     [{scheduler, ?SAME}]),
    receive {t_start, T0} -> ok end,
    receive {t_end, T1} -> ok end,
    T1 - T0.

produce(0, _C) -> ok;
produce(K, C) -> C ! {item, K}, produce(K - 1, C).

consume(0, Sum) -> Sum;
consume(K, Sum) -> receive {item, I} -> consume(K - 1, Sum + I) end.

%% -- timers --------------------------------------------------------------------

send_after_cancel(N) ->
    on(?SAME, fun() ->
        T0 = now_ns(),
        timers(N, self()),
        now_ns() - T0
    end).

timers(0, _Me) -> ok;
timers(K, Me) ->
    R = erlang:send_after(1000, Me, {item, K}),
    case erlang:cancel_timer(R) of
        false -> error(timer_not_found);
        _Left -> timers(K - 1, Me)
    end.

%% -- memory of an idle process -------------------------------------------------

rss_bytes() ->
    {ok, B} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(B, <<" ">>, [global]),
    binary_to_integer(Resident) * 4096.

idle_process_memory(N) ->
    garbage_collect(),
    Rss0 = rss_bytes(),
    Mem0 = erlang:memory(processes),
    Pids = on(?SAME, fun() ->
        Ps = [erlang:spawn_opt(fun() -> receive stop -> ok end end, [{scheduler, ?SAME}])
              || _ <- lists:seq(1, N)],
        erlang:yield(),
        Ps
    end),
    %% Every process has reached its receive.
    wait_waiting(lists:nth(N, Pids)),
    Rss1 = rss_bytes(),
    Mem1 = erlang:memory(processes),
    %% The list of pids lives in this process's heap, which both figures
    %% include: take out its size (a cons cell, 2 words, per pid; local
    %% pids are immediates).
    ListBytes = N * 2 * erlang:system_info(wordsize),
    {memory, Info} = erlang:process_info(lists:nth(N div 2, Pids), memory),
    io:format("result idle_process_rss ~.1f bytes~n", [(Rss1 - Rss0 - ListBytes) / N]),
    io:format("result idle_process_erlang_memory ~.1f bytes~n", [(Mem1 - Mem0 - ListBytes) / N]),
    io:format("result idle_process_info_memory ~p bytes~n", [Info]),
    Base = erlang:system_info(process_count) - N,
    [P ! stop || P <- Pids],
    wait_count(Base),
    ok.

wait_waiting(P) ->
    case erlang:process_info(P, status) of
        {status, waiting} -> ok;
        _ -> timer:sleep(1), wait_waiting(P)
    end.
