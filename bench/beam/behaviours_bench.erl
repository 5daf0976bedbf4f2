%% File: bench/beam/behaviours_bench.erl
%%
%% The measurements of bench/behaviours.bench.cpp, on the BEAM, for the
%% comparison in bench/RESULTS.md (docs/benchmarks.md has the method).
%% Run by bench/run-micro.sh:
%%   erlc -o DIR behaviours_bench.erl
%%   erl +S 2 -noshell -pa DIR -run behaviours_bench main [MinTimeSec Reps]
%% As in runtime_bench.erl, "one scheduler" binds every process to
%% scheduler 1 (spawn_opt's {scheduler, N}, passed through gen_server's
%% spawn_opt option) and "across" puts the server on scheduler 2:
%%   gen_server_call_same   a client calls a gen_server N times
%%                          (gen_server:call/2: default 5 s timeout)
%%   gen_server_call_cross  client on 1, server on 2
%%   supervisor_restart     a one_for_one supervisor with one permanent
%%                          worker whose init sends {up, Pid} to the driver;
%%                          the driver kills it and waits for the restarted
%%                          worker's up: N kills per supervisor
%% The logger's primary level is none, so supervisor reports are dropped
%% before they are formatted (the C++ side installs a sink that drops them).
%% This module is the callback module of the server, the worker and the
%% supervisor alike (init/1 tells them apart by its argument). Output, one
%% line per figure:
%%   rep <bench> <ns_per_op>          each repetition
%%   cpu <bench> <ns_per_op>          each repetition's CPU time (all of
%%                                    the VM's threads: statistics(runtime))
%%                                    over its operations
%%   result <bench> <value> <unit>    the median over repetitions
-module(behaviours_bench).
-export([main/0, main/1]).
-export([init/1, handle_call/3, handle_cast/2, start_kid/1]).

-define(SAME, 1).
-define(OTHER, 2).

main() -> main([]).

main(Args) ->
    {MinTime, Reps} =
        case Args of
            [M, R] -> {to_number(M), list_to_integer(R)};
            _ -> {0.3, 3}
        end,
    ok = logger:set_primary_config(level, none),
    io:format("beam otp ~s erts ~s schedulers ~p~n",
              [erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(schedulers_online)]),
    Benches = [{gen_server_call_same, 10000, fun(N) -> call(N, ?SAME) end},
               {gen_server_call_cross, 10000, fun(N) -> call(N, ?OTHER) end},
               {supervisor_restart, 100, fun restart/1}],
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
    {Cpu0, _} = erlang:statistics(runtime),
    {Ns, Ops} = rep_loop(N, F, Limit, 0, 0),
    {Cpu1, _} = erlang:statistics(runtime),
    PerOp = Ns / Ops,
    io:format("rep ~s ~.3f~n", [Name, PerOp]),
    io:format("cpu ~s ~.3f~n", [Name, (Cpu1 - Cpu0) * 1.0e6 / Ops]),
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

on_opts(Sched) -> [{spawn_opt, [{scheduler, Sched}]}].

%% -- gen_server call round trip ----------------------------------------------

call(N, ServerSched) ->
    {ok, Server} = gen_server:start(?MODULE, echo, on_opts(ServerSched)),
    Ns = on(?SAME, fun() ->
        T0 = now_ns(),
        calls(N, Server),
        now_ns() - T0
    end),
    ok = gen_server:stop(Server),
    Ns.

calls(0, _Server) -> ok;
calls(K, Server) ->
    K = gen_server:call(Server, {echo, K}),
    calls(K - 1, Server).

%% -- supervisor restart --------------------------------------------------------

restart(N) ->
    on(?SAME, fun() ->
        %% supervisor:start_link/2 takes no spawn options; this is what it
        %% calls, with the scheduler binding added (and no link).
        {ok, Sup} = gen_server:start(supervisor, {self, ?MODULE, {sup, self(), N}}, on_opts(?SAME)),
        Kid = receive {up, P} -> P end,
        Ns = kills(N, Kid, 0),
        ok = gen_server:stop(Sup),
        Ns
    end).

kills(0, _Kid, Ns) -> Ns;
kills(K, Kid, Ns) ->
    T0 = now_ns(),
    exit(Kid, kill),
    receive {up, New} -> kills(K - 1, New, Ns + now_ns() - T0) end.

start_kid(Driver) ->
    gen_server:start_link(?MODULE, {kid, Driver}, on_opts(?SAME)).

%% -- callbacks: the echo server, the worker, the supervisor ----------------------

init(echo) ->
    {ok, echo};
init({kid, Driver}) ->
    Driver ! {up, self()},
    {ok, Driver};
init({sup, Driver, N}) ->
    Flags = #{strategy => one_for_one, intensity => N + 10, period => 60},
    Kid = #{id => kid, start => {?MODULE, start_kid, [Driver]}, restart => permanent,
            shutdown => brutal_kill, type => worker},
    {ok, {Flags, [Kid]}}.

handle_call({echo, V}, _From, State) -> {reply, V, State}.

handle_cast(_Msg, State) -> {noreply, State}.
